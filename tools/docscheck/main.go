// Command docscheck keeps the documentation honest: every `go tool task NAME` it mentions must be
// a task of Taskfile.yml, and every repository path it mentions must exist.
//
// It reads README.md, docs/*.md and every other README.md in the tree (not under dot-folders or
// git-ignored folders). Paths are taken from markdown links `[text](path)` (relative to the file,
// as GitHub resolves them) and from inline code spans and fenced code blocks, where a token counts
// as a repository path when it contains a `/` and starts with a top-level folder (service/,
// harness/, …); those are relative to the repository root. URLs, globs (`*`, `{`), shell
// variables and placeholders (`<name>`, FILE, TAG …) are skipped, and so are paths under
// git-ignored folders (bin/, harness/reports/ …), which only exist after a build or a test run.
//
// Test names in code spans (`TestTimeouts`, `FuzzParse`, `TestUpstreamLatency/below_limits`) must
// be functions of some _test.go file, so a renamed test cannot leave the docs pointing at nothing.
//
// Run from the repository root: `go run ./tools/docscheck` (or `go tool task docs:check`). It
// prints each problem as file:line and exits 1 if there is any.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	root := flag.String("root", "", "repository root (default: the nearest folder upwards holding Taskfile.yml)")
	verbose := flag.Bool("v", false, "print every reference checked")
	flag.Parse()
	dir := *root
	if dir == "" {
		var err error
		if dir, err = findRoot(); err != nil {
			fmt.Fprintln(os.Stderr, "docscheck:", err)
			os.Exit(2)
		}
	}
	var trace func(string)
	if *verbose {
		trace = func(s string) { fmt.Println(s) }
	}
	problems, stats, err := check(os.DirFS(dir), trace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docscheck:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Printf("docscheck: %d problem(s) in %d files\n", len(problems), stats.files)
		os.Exit(1)
	}
	fmt.Printf("docscheck: ok (%d files, %d task mentions, %d paths, %d test names)\n", stats.files, stats.tasks, stats.paths, stats.tests)
}

// findRoot walks up from the working directory to the folder holding Taskfile.yml.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Taskfile.yml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no Taskfile.yml in the working directory or above it")
		}
		dir = parent
	}
}

// topLevel are the folders whose names start a repository path in code spans and blocks.
var topLevel = map[string]bool{
	"service": true, "harness": true, "features": true, "dashboards": true, "toxiproxy": true,
	"gitops": true, "terraform": true, "tools": true, "docs": true, ".ci": true,
}

type stats struct{ files, tasks, paths, tests int }

// check runs every check over the repository in fsys and returns the problems.
// trace, when not nil, receives every reference checked.
func check(fsys fs.FS, trace func(string)) ([]string, stats, error) {
	var st stats
	taskfile, err := fs.ReadFile(fsys, "Taskfile.yml")
	if err != nil {
		return nil, st, err
	}
	tasks := parseTasks(string(taskfile))
	if len(tasks) == 0 {
		return nil, st, errors.New("no tasks found under tasks: in Taskfile.yml")
	}
	ignored := parseGitignore(fsys)
	docs, err := docFiles(fsys, ignored)
	if err != nil {
		return nil, st, err
	}
	tests, err := testFuncs(fsys, ignored)
	if err != nil {
		return nil, st, err
	}
	var problems []string
	for _, name := range docs {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, st, err
		}
		st.files++
		for _, r := range scan(string(b)) {
			switch r.kind {
			case refTask:
				st.tasks++
				if trace != nil {
					trace(fmt.Sprintf("%s:%d: task %s", name, r.line, r.value))
				}
				if !tasks[r.value] {
					problems = append(problems, fmt.Sprintf("%s:%d: `go tool task %s`: no task %q in Taskfile.yml", name, r.line, r.value, r.value))
				}
			case refTest:
				st.tests++
				if trace != nil {
					trace(fmt.Sprintf("%s:%d: test %s", name, r.line, r.value))
				}
				if !tests[r.value] {
					problems = append(problems, fmt.Sprintf("%s:%d: test %s: no func %s in any _test.go file", name, r.line, r.value, r.value))
				}
			case refLink, refCode:
				p, ok := resolve(name, r, ignored)
				if !ok {
					continue
				}
				st.paths++
				if trace != nil {
					trace(fmt.Sprintf("%s:%d: %s %s", name, r.line, r.kind, p))
				}
				if _, err := fs.Stat(fsys, p); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: %s %q: %s does not exist", name, r.line, r.kind, r.value, p))
				}
			}
		}
	}
	return problems, st, nil // in file order, then line order
}

var taskKey = regexp.MustCompile(`^  ([a-z0-9:_-]+):\s*$`)

// parseTasks returns the task names of a Taskfile: the keys indented by two spaces under the
// top-level `tasks:` key (a line scan: the tools module has no YAML parser, and needs none).
func parseTasks(taskfile string) map[string]bool {
	tasks := map[string]bool{}
	in := false
	sc := bufio.NewScanner(strings.NewReader(taskfile))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if !strings.HasPrefix(line, " ") { // a top-level key starts or ends the tasks section
			in = strings.HasPrefix(line, "tasks:")
			continue
		}
		if m := taskKey.FindStringSubmatch(line); in && m != nil {
			tasks[m[1]] = true
		}
	}
	return tasks
}

// parseGitignore returns the folders .gitignore ignores (lines like `/bin/` or `harness/reports/`),
// as slash-terminated prefixes relative to the root.
func parseGitignore(fsys fs.FS) []string {
	b, err := fs.ReadFile(fsys, ".gitignore")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") || strings.ContainsAny(l, "*?[") || !strings.HasSuffix(l, "/") {
			continue
		}
		out = append(out, strings.TrimPrefix(l, "/"))
	}
	return out
}

func underIgnored(p string, ignored []string) bool {
	for _, dir := range ignored {
		if p+"/" == dir || strings.HasPrefix(p, dir) {
			return true
		}
	}
	return false
}

// docFiles lists README.md, docs/*.md and every README.md below the root, skipping dot-folders
// and git-ignored folders.
func docFiles(fsys fs.FS, ignored []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if _, err := fs.Stat(fsys, "README.md"); err == nil {
		add("README.md")
	}
	mds, err := fs.Glob(fsys, "docs/*.md")
	if err != nil {
		return nil, err
	}
	for _, p := range mds {
		add(p)
	}
	err = walkFiles(fsys, ignored, func(p string) error {
		if path.Base(p) == "README.md" {
			add(p)
		}
		return nil
	})
	// README.md and docs/ first, in that order; the other READMEs sorted.
	fixed := 0
	for fixed < len(out) && (out[fixed] == "README.md" || strings.HasPrefix(out[fixed], "docs/")) {
		fixed++
	}
	sort.Strings(out[fixed:])
	return out, err
}

type refKind int

const (
	refTask refKind = iota // a `go tool task NAME`
	refLink                // a markdown link target
	refCode                // a repository path in a code span or block
	refTest                // a Go test, fuzz or benchmark function named in a code span
)

func (k refKind) String() string {
	switch k {
	case refLink:
		return "link"
	case refCode:
		return "path"
	case refTest:
		return "test"
	}
	return "task"
}

// ref is one thing a document mentions.
type ref struct {
	kind  refKind
	value string
	line  int
}

var (
	taskCmd   = regexp.MustCompile("go tool task((?:[ \t]+[^ \t`]+)*)")
	taskName  = regexp.MustCompile(`^[a-z0-9][a-z0-9:_-]*$`)
	envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	mdLink    = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)`)
	codeSpan  = regexp.MustCompile("(`+)(.+?)`+")
	// testName is a code span that is a test function, maybe with a subtest: TestX/sub_test.
	testName = regexp.MustCompile(`^((?:Test|Fuzz|Benchmark)[A-Z0-9_][A-Za-z0-9_]*)(?:/\S*)?$`)
	testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)\(`)
)

// testFuncs returns the names of the test, fuzz and benchmark functions of every _test.go
// file outside dot-folders and git-ignored folders.
func testFuncs(fsys fs.FS, ignored []string) (map[string]bool, error) {
	names := map[string]bool{}
	err := walkFiles(fsys, ignored, func(p string) error {
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	return names, err
}

// walkFiles calls fn for every file below the root outside dot-folders, node_modules and
// git-ignored folders.
func walkFiles(fsys fs.FS, ignored []string, fn func(p string) error) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || underIgnored(p, ignored)) {
				return fs.SkipDir
			}
			return nil
		}
		return fn(p)
	})
}

// scan finds the task mentions, link targets and code paths of a markdown document.
func scan(doc string) []ref {
	var refs []ref
	fence := "" // the opening fence of the code block we are in, if any
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		for _, m := range taskCmd.FindAllStringSubmatch(line, -1) {
			if name := firstTask(m[1]); name != "" {
				refs = append(refs, ref{refTask, name, n})
			}
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
				continue
			}
			for _, tok := range strings.Fields(line) {
				refs = append(refs, codeRefs(tok, n)...)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			refs = append(refs, ref{refLink, m[1], n})
		}
		if m := refDef.FindStringSubmatch(line); m != nil {
			refs = append(refs, ref{refLink, m[1], n})
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			if t := testName.FindStringSubmatch(strings.TrimSpace(m[2])); t != nil {
				refs = append(refs, ref{refTest, t[1], n})
				continue
			}
			for _, tok := range strings.Fields(m[2]) {
				refs = append(refs, codeRefs(tok, n)...)
			}
		}
	}
	return refs
}

// firstTask returns the task a `go tool task` command runs: its first argument that is neither
// a flag nor a VAR=value assignment, or "" (e.g. `go tool task --list`).
func firstTask(args string) string {
	for _, a := range strings.Fields(args) {
		a = strings.TrimRight(a, ".,;:)")
		switch {
		case a == "--" || strings.HasPrefix(a, "#") || a == "&&" || a == "|" || a == ";":
			return ""
		case strings.HasPrefix(a, "-"), envAssign.MatchString(a):
			continue
		case taskName.MatchString(a):
			return a
		}
		return ""
	}
	return ""
}

var (
	lineSuffix  = regexp.MustCompile(`^(.+\.[A-Za-z0-9]+):\d+(?::\d+)?$`)
	placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	urlScheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	realCaps    = map[string]bool{"README": true, "LICENSE": true, "CHANGELOG": true, "CONTRIBUTING": true, "NOTES": true}
)

// codeRefs returns the repository path in one token of code, if it is one.
func codeRefs(tok string, line int) []ref {
	tok = strings.Trim(tok, "\"'`()[],;")
	if i := strings.LastIndex(tok, "="); i >= 0 { // --config=FILE, VAR=path
		tok = tok[i+1:]
	}
	tok = strings.Trim(tok, "\"'")
	if before, ok := strings.CutSuffix(strings.TrimRight(tok, ",;:"), "/..."); ok {
		tok = before // a Go package pattern: ./harness/bdd/...
	}
	tok = strings.TrimRight(tok, ".:")
	if m := lineSuffix.FindStringSubmatch(tok); m != nil {
		tok = m[1]
	}
	tok = strings.TrimPrefix(tok, "./")
	if i := strings.IndexByte(tok, '#'); i >= 0 {
		tok = tok[:i]
	}
	first, _, found := strings.Cut(tok, "/")
	if !found || !topLevel[first] {
		return nil
	}
	return []ref{{refCode, tok, line}}
}

// resolve turns a reference into a path relative to the root, or reports that it is not a
// local path to check (a URL, an anchor, a glob, a placeholder, a build output).
func resolve(doc string, r ref, ignored []string) (string, bool) {
	v := r.value
	if strings.ContainsAny(v, "*{}<>$…") || strings.Contains(v, "://") {
		return "", false
	}
	if r.kind == refLink {
		if i := strings.IndexAny(v, "#?"); i >= 0 {
			v = v[:i]
		}
		if v == "" || urlScheme.MatchString(v) {
			return "", false // an anchor in the same page, or a URL scheme (https:, mailto:)
		}
	}
	for _, seg := range strings.Split(v, "/") {
		base := strings.TrimSuffix(seg, path.Ext(seg))
		if placeholder.MatchString(base) && !realCaps[base] {
			return "", false
		}
	}
	var p string
	switch {
	case r.kind == refLink && strings.HasPrefix(v, "/"):
		p = path.Clean(strings.TrimPrefix(v, "/"))
	case r.kind == refLink:
		p = path.Join(path.Dir(doc), v)
	default:
		p = path.Clean(v)
	}
	if p == ".." || strings.HasPrefix(p, "../") || underIgnored(p, ignored) {
		return "", false
	}
	return p, true
}
