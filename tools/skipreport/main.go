// Command skipreport reads the `go test -json` streams that `go tool task test` records (one file
// per suite, written by gotestsum --jsonfile into harness/reports/) and prints, at the very end
// of the run, every skipped test grouped by the reason it gave, e.g.
//
//	2 tests skipped: terraform not on PATH (…) — it is not a Go tool: install it from https://…
//	    aiservice/harness/deploy TestTerraformFmt
//	    aiservice/harness/deploy TestTerraformValidate
//
// A skip is easy to miss in the middle of a long run, and a suite that skips because a tool is
// missing proves nothing. With -fail (on by default when AISERVICE_FAIL_ON_SKIP=1, as .ci/run sets) any
// skip makes it exit 1, so CI can never pass by skipping; -quiet leaves the list out (the test
// task prints it last, after every suite, whether the run passed or not).
//
// Usage: go run ./tools/skipreport [-fail] [-quiet] [-dir DIR] [FILE...]  (-dir reads DIR/go-*.json)
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	fail := flag.Bool("fail", os.Getenv("AISERVICE_FAIL_ON_SKIP") == "1", "exit 1 when any test was skipped (default: AISERVICE_FAIL_ON_SKIP=1)")
	quiet := flag.Bool("quiet", false, "print no list, only why it fails")
	dir := flag.String("dir", "", "also read every go-*.json in this folder (gotestsum's --jsonfile of each suite)")
	flag.Parse()
	files := flag.Args()
	if *dir != "" {
		// A missing folder is no run yet: none of the globbed files, not an error.
		found, err := filepath.Glob(filepath.Join(*dir, "go-*.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipreport:", err)
			os.Exit(2)
		}
		files = append(files, found...)
	}
	var skips []skip
	for _, name := range files {
		s, err := readFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipreport:", err)
			os.Exit(2)
		}
		skips = append(skips, s...)
	}
	if !*quiet {
		report(os.Stdout, skips, len(files))
	}
	if *fail && len(skips) > 0 {
		fmt.Printf("skipreport: %d %s skipped, and a skip fails this run (AISERVICE_FAIL_ON_SKIP=1: CI must not pass by skipping)\n", len(skips), plural(len(skips), "test", "tests"))
		os.Exit(1)
	}
}

// event is the part of a test2json event this command reads.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skip is one skipped test and the reason it logged.
type skip struct {
	pkg, test, reason string
}

func readFile(name string) ([]skip, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open test report: %w", err)
	}
	defer f.Close()
	s, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// logLine matches what t.Skip/t.Log print: "    file_test.go:42: message".
var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)

// parse collects the skipped tests of one go test -json stream, in the order they ended. The
// reason is the last line the test logged before it skipped (t.Skip's message), "" if none.
func parse(r io.Reader) ([]skip, error) {
	type key struct{ pkg, test string }
	last := map[key]string{}
	var out []skip
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue // go test writes build errors as plain text
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("decode test event: %w", err)
		}
		if e.Test == "" {
			continue // package events: "skip" there means a package without tests
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			if m := logLine.FindStringSubmatch(strings.TrimRight(e.Output, "\n")); m != nil {
				last[k] = m[1]
			}
		case "skip":
			out = append(out, skip{pkg: e.Package, test: e.Test, reason: last[k]})
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read test events: %w", err)
	}
	return out, nil
}

// report prints the skips grouped by reason, the largest group first.
func report(w io.Writer, skips []skip, files int) {
	if len(skips) == 0 {
		fmt.Fprintf(w, "== skipped tests: none (%d suites)\n", files)
		return
	}
	groups := map[string][]skip{}
	for _, s := range skips {
		groups[s.reason] = append(groups[s.reason], s)
	}
	reasons := make([]string, 0, len(groups))
	for r := range groups {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if len(groups[reasons[i]]) != len(groups[reasons[j]]) {
			return len(groups[reasons[i]]) > len(groups[reasons[j]])
		}
		return reasons[i] < reasons[j]
	})
	fmt.Fprintf(w, "== SKIPPED: %d %s did not run and proved nothing; install what they name\n", len(skips), plural(len(skips), "test", "tests"))
	for _, r := range reasons {
		g := groups[r]
		if r == "" {
			r = "(no reason given)"
		}
		fmt.Fprintf(w, "%d %s skipped: %s\n", len(g), plural(len(g), "test", "tests"), r)
		for _, s := range g {
			fmt.Fprintf(w, "    %s %s\n", s.pkg, s.test)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
