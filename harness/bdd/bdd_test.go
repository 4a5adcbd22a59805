package bdd

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/launch"
)

// TestFeatures runs every feature under /features as one godog suite. Strict mode makes an
// undefined or pending step a failure, so a feature QA edits cannot silently stop testing.
//
// Environment:
//
//	BDD_TAGS          extra tag filter, e.g. "@smoke" or "@smoke,@contract" (~@wip always applies)
//	BDD_SEED          scenario order: unset = random (the seed is printed), 0 = file order, N = that seed
//	AISERVICE_URL     run against this already running service instead of local processes;
//	                  @local scenarios (fault injection, own configuration, signals) are left out
//	AISERVICE_API_KEY sent as a bearer token to AISERVICE_URL, when it needs a key
func TestFeatures(t *testing.T) {
	var remote *launch.Process
	if u := os.Getenv("AISERVICE_URL"); u != "" {
		var err error
		if remote, err = remoteService(u); err != nil {
			t.Fatal(err)
		}
	}
	runFeatures(t, "bdd", &suite{remote: remote, apiKey: os.Getenv("AISERVICE_API_KEY")}, os.Getenv("BDD_TAGS"))
}

// TestSmokeAgainstURL is `AISERVICE_URL=… go tool task test:smoke` against a service this test
// starts: every @smoke scenario that is not @local must pass knowing nothing but the service's
// URL. A smoke scenario that needs the simulator's controls, a configuration of its own, process
// signals or exact metric deltas fails here until it is tagged @local.
func TestSmokeAgainstURL(t *testing.T) {
	if os.Getenv("AISERVICE_URL") != "" {
		t.Skip("TestFeatures already runs against AISERVICE_URL")
	}
	p := launch.MustStartService(t, launch.Options{})
	remote, err := remoteService(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	runFeatures(t, "bdd-smoke", &suite{remote: remote}, "@smoke")
}

// remoteService describes a service this suite did not start: only its address is known.
func remoteService(raw string) (*launch.Process, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("AISERVICE_URL=%q: want an absolute http(s) URL such as https://aiservice.example.com", raw)
	}
	return &launch.Process{URL: strings.TrimRight(u.String(), "/"), Addr: u.Host}, nil
}

// runFeatures runs the suite with the extra tag filter; reports go to harness/reports/NAME-*.
func runFeatures(t *testing.T, name string, s *suite, extraTags string) {
	t.Helper()
	reports := filepath.Join("..", "reports")
	if err := os.MkdirAll(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := int64(-1) // random order: proves the scenarios do not depend on each other
	if v := os.Getenv("BDD_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("BDD_SEED=%q is not an integer", v)
		}
		seed = n
	}
	defer s.close()
	opts := godog.Options{
		Format: "pretty,junit:" + filepath.Join(reports, name+"-junit.xml") +
			",cucumber:" + filepath.Join(reports, name+"-cucumber.json"),
		Paths:     []string{filepath.Join("..", "..", "features")},
		Tags:      tagFilter(extraTags, s.remote != nil),
		Strict:    true,
		NoColors:  true, // the output ends up in CI logs and files
		Randomize: seed,
		TestingT:  t,
	}
	status := godog.TestSuite{
		Name:                "aiservice",
		ScenarioInitializer: s.initScenario,
		Options:             &opts,
	}.Run()
	if status != 0 {
		t.Fatalf("BDD suite failed (godog status %d); reports in harness/reports/%s-*", status, name)
	}
}

// tagFilter excludes @wip (unless a branch asks for it) and, against a remote service, @local
// (always), and ANDs that into every OR branch of the extra filter (godog's syntax: "," is OR,
// "&&" is AND, "~" is NOT).
func tagFilter(extra string, remote bool) string {
	var branches []string
	for _, b := range strings.Split(extra, ",") {
		if b = strings.TrimSpace(b); b != "" {
			branches = append(branches, b)
		}
	}
	if len(branches) == 0 {
		branches = []string{""}
	}
	for i, b := range branches {
		var parts []string
		if !strings.Contains(strings.ReplaceAll(b, "~@wip", ""), "@wip") {
			parts = append(parts, "~@wip") // asking for @wip explicitly runs it
		}
		if remote {
			parts = append(parts, "~@local")
		}
		if b != "" {
			parts = append(parts, b)
		}
		branches[i] = strings.Join(parts, " && ")
	}
	return strings.Join(branches, ",")
}

// suite holds what outlives a scenario: the shared default service (embedded defaults, with its
// built-in simulator) and the `aiservice config` output.
type suite struct {
	// remote is a service the suite did not start (AISERVICE_URL); nil = local processes.
	remote *launch.Process
	apiKey string // sent as a bearer token to remote

	mu        sync.Mutex
	shared    *launch.Process
	sharedSim launch.SimControl
	sharedErr error
	started   bool
}

// sharedService starts the default service once. Scenarios that need no special configuration
// and inject no upstream failures share it; they reset its simulator and compare metrics as
// deltas, so they stay independent.
func (s *suite) sharedService() (*launch.Process, launch.SimControl, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // includes the first build
		defer cancel()
		p, err := launch.StartService(ctx, launch.Options{Args: []string{"--sim-fault-injection", "true"}}) // scenarios drive its simulator
		if err != nil {
			s.sharedErr = err
		} else {
			s.shared = p
			addr := ""
			for _, l := range p.LogLines() {
				if l["msg"] == "built-in simulator listening" {
					addr, _ = l["addr"].(string)
				}
			}
			if addr == "" {
				s.sharedErr = fmt.Errorf("the default service did not log its built-in simulator's address:\n%s", p.Logs())
			}
			s.sharedSim = launch.SimControl{URL: "http://" + addr}
		}
	}
	return s.shared, s.sharedSim, s.sharedErr
}

func (s *suite) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared != nil {
		s.shared.Stop(10 * time.Second)
	}
}

// initScenario is called by godog for every scenario: each gets a fresh world.
func (s *suite) initScenario(sc *godog.ScenarioContext) {
	w := &world{suite: s}
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		w.cleanup()
		return ctx, nil
	})
	w.registerServiceSteps(sc)
	w.registerUpstreamSteps(sc)
	w.registerRequestSteps(sc)
	w.registerResponseSteps(sc)
	w.registerStreamSteps(sc)
	w.registerDomainSteps(sc)
	w.registerEmbeddingSteps(sc)
	w.registerMessagesSteps(sc)
	w.registerResponsesSteps(sc)
	w.registerMetricSteps(sc)
	w.registerShutdownSteps(sc)
	w.registerChaosSteps(sc)
	w.registerBalanceSteps(sc)
	w.registerKeySteps(sc)
}

func TestTagFilter(t *testing.T) {
	tests := []struct {
		extra  string
		remote bool
		want   string
	}{
		{"", false, "~@wip"},
		{"@smoke", false, "~@wip && @smoke"},
		{"@smoke,@contract", false, "~@wip && @smoke,~@wip && @contract"},
		{"@wip", false, "@wip"},
		{"", true, "~@wip && ~@local"},
		{"@smoke", true, "~@wip && ~@local && @smoke"},
		{"@local", true, "~@wip && ~@local && @local"}, // nothing: a remote run never starts processes
		{" @smoke , ", true, "~@wip && ~@local && @smoke"},
	}
	for _, tt := range tests {
		if got := tagFilter(tt.extra, tt.remote); got != tt.want {
			t.Errorf("tagFilter(%q, %v) = %q, want %q", tt.extra, tt.remote, got, tt.want)
		}
	}
}
