// Command bench measures what the gateway adds, side by side in one run on 127.0.0.1, at the
// shipped defaults (the gateway's one override is where the upstream is). Paths: the upstream
// alone (direct), a bare httputil.ReverseProxy in front of it, and the gateway with 100 % trace
// export to a local sink, with tracing off, and at production sampling (10 %). Profiles: `sim`
// (the service's simulator upstream), `realistic` (this tool's fixture: 0.5–2 KB prompts, 1–2 KB
// answers) and `paced-streams` (1,000 and 5,000 held streams of 50 chunks × 20 ms). A 2-core
// machine is noisy and drifts: paths take turns in rounds whose order rotates, and every
// comparison of two paths is the median of its per-round values, reported with their range.
//
//	go run ./tools/bench -rounds 5               # results JSON under $TMPDIR
//	go run ./tools/bench -record                 # also updates tools/bench/results and docs/img
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "proxy":
		err = runProxy(os.Args[2], os.Args[3])
	case len(os.Args) == 5 && os.Args[1] == "fixture":
		err = runFixture(os.Args[2], os.Args[3], os.Args[4])
	default:
		err = run()
	}
	if err != nil {
		log.Fatal(err)
	}
}

// runFixture serves the upstream fixture: listen address, chunks per stream, gap between them.
func runFixture(listen, chunks, gap string) error {
	n, err := strconv.Atoi(chunks)
	if err != nil || n < 1 {
		return fmt.Errorf("fixture chunks %q: want a positive number", chunks)
	}
	g, err := time.ParseDuration(gap)
	if err != nil {
		return fmt.Errorf("fixture gap: %w", err)
	}
	return serveAndAnnounce(listen, newFixture(defaultAnswerSizes, n, g))
}

type options struct {
	profiles   []string
	rounds     int
	duration   time.Duration
	rate       int
	levels     []int
	hold       time.Duration
	holdRounds int
	chunks     int
	chunkGap   time.Duration
	tuned      int
	bin, out   string
	baseBin    string
	pprof      string
	record     bool
	repo       string
}

func parseFlags() (options, error) {
	var o options
	var profs, levels string
	flag.StringVar(&profs, "profiles", "sim,realistic,paced-streams", "profiles to run")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of the request profiles, the order of the paths rotating by one each round (5: each of the 5 paths in each position once; odd, so the median is a middle round)")
	flag.DurationVar(&o.duration, "duration", time.Second, "length of each request measurement")
	flag.IntVar(&o.rate, "rate", 1000, "fixed rate (req/s) of the open-loop latency figure")
	flag.StringVar(&levels, "streams", "1000,5000", "concurrent paced streams to hold")
	flag.DurationVar(&o.hold, "hold", 20*time.Second, "how long each level is held, after a ramp of one stream's length")
	flag.IntVar(&o.holdRounds, "hold-rounds", 1, "rounds of the held streams, the order of the paths rotating by one each round (a recorded run takes 2 or more: one hold per path leaves the gap p99 to chance)")
	flag.IntVar(&o.chunks, "chunks", 50, "content chunks per paced stream")
	flag.DurationVar(&o.chunkGap, "chunk-gap", 20*time.Millisecond, "pace of the fixture's chunks")
	flag.IntVar(&o.tuned, "tuned-max-in-flight", 20000, "also hold streams through a gateway with this max_in_flight and max_streams, labelled TUNED (0: skip)")
	flag.StringVar(&o.bin, "bin", "", "aiservice binary (default: build it)")
	flag.StringVar(&o.baseBin, "base-bin", "", "another aiservice binary (e.g. an earlier commit's) measured side by side as gateway-10pct-base")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "aiservice-bench", "results.json"), "JSON results file (outside the checkout by default)")
	flag.StringVar(&o.pprof, "pprof", "", "take CPU profiles of the gateway (and the tuned one) into this folder, top entries into the results (adds a debug listener: off by default)")
	flag.BoolVar(&o.record, "record", false, "also update the committed figures (tools/bench/results/*.json) and charts (docs/img/bench-*.svg)")
	flag.StringVar(&o.repo, "repo", ".", "repository root, for -record")
	flag.Parse()
	o.profiles = strings.Split(profs, ",")
	var err error
	if o.levels, err = ints(levels); err != nil {
		return o, err
	}
	if o.rounds < 1 || o.holdRounds < 1 || o.chunks < 1 || o.rate < 1 {
		return o, errors.New("-rounds, -hold-rounds, -chunks and -rate must be at least 1")
	}
	known := []string{"sim", "realistic", "paced-streams"}
	for _, p := range o.profiles {
		if !slices.Contains(known, p) {
			return o, fmt.Errorf("unknown profile %q (have %s)", p, strings.Join(known, ", "))
		}
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "bench-")
		if err != nil {
			return fmt.Errorf("build folder: %w", err)
		}
		defer os.RemoveAll(dir)
		o.bin = filepath.Join(dir, "aiservice")
		if out, err := exec.Command("go", "build", "-o", o.bin, "./service/cmd/aiservice").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %w\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("own binary: %w", err)
	}
	sink, err := startSink()
	if err != nil {
		return err
	}
	rep := report{When: time.Now().UTC().Format(time.RFC3339),
		Machine: machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadavg()},
		Options: map[string]any{"rounds": o.rounds, "duration": o.duration.String(), "rate": o.rate, "streams": o.levels,
			"hold": o.hold.String(), "hold_rounds": o.holdRounds, "chunks": o.chunks, "chunk_gap": o.chunkGap.String(),
			"tuned_max_in_flight": o.tuned, "pprof": o.pprof != "", "base_bin": o.baseBin}}
	for _, p := range profiles(o) {
		if !slices.Contains(o.profiles, p.name) {
			continue
		}
		variants := gatewayVariants(0, o.baseBin)
		if p.held {
			variants = gatewayVariants(o.tuned, o.baseBin)
		}
		ts, procs, err := startPaths(o.bin, self, p.upstream, variants, sink, o.pprof != "")
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		res := newProfileResult(p.name, ts)
		if p.held {
			measureHeld(o, p, ts, res)
		} else {
			measureRequests(o, p, ts, res)
		}
		procs.stop()
		res.finish(o.levels, o.rate, o.chunkGap)
		rep.Profiles = append(rep.Profiles, res)
	}
	rep.Machine.LoadAfter = loadavg()
	rep.Targets = evaluate(rep.Profiles, o.levels)
	if err := writeJSON(o.out, rep); err != nil {
		return err
	}
	printTable(os.Stdout, rep)
	fmt.Printf("\nresults: %s (load average before %s, after %s)\n", o.out, rep.Machine.LoadBefore, rep.Machine.LoadAfter)
	if o.record {
		if err := record(o.repo, rep, o.levels, o.rate); err != nil {
			return err
		}
		fmt.Println("recorded: tools/bench/results/*.json, docs/img/bench-*.svg")
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive numbers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}
