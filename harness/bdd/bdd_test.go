package bdd

import (
	"context"
	"fmt"
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
//	BDD_TAGS    extra tag filter, e.g. "@smoke" or "@smoke,@contract" (~@wip always applies)
//	BDD_SEED    scenario order: unset = random (the seed is printed), 0 = file order, N = that seed
func TestFeatures(t *testing.T) {
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
	s := &suite{}
	defer s.close()
	opts := godog.Options{
		Format: "pretty,junit:" + filepath.Join(reports, "bdd-junit.xml") +
			",cucumber:" + filepath.Join(reports, "bdd-cucumber.json"),
		Paths:     []string{filepath.Join("..", "..", "features")},
		Tags:      tagFilter(os.Getenv("BDD_TAGS")),
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
		t.Fatalf("BDD suite failed (godog status %d); reports in harness/reports/", status)
	}
}

// tagFilter excludes @wip (unless a branch asks for it) and ANDs that into every OR branch of
// the extra filter (godog's syntax: "," is OR, "&&" is AND, "~" is NOT).
func tagFilter(extra string) string {
	if strings.TrimSpace(extra) == "" {
		return "~@wip"
	}
	var branches []string
	for _, b := range strings.Split(extra, ",") {
		b = strings.TrimSpace(b)
		switch {
		case b == "":
		case strings.Contains(strings.ReplaceAll(b, "~@wip", ""), "@wip"):
			branches = append(branches, b) // asking for @wip explicitly runs it
		default:
			branches = append(branches, "~@wip && "+b)
		}
	}
	return strings.Join(branches, ",")
}

// suite holds what outlives a scenario: the shared default service (embedded defaults, with its
// built-in simulator) and the `aiservice config` output.
type suite struct {
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
		p, err := launch.StartService(ctx, launch.Options{})
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
	w.registerMetricSteps(sc)
	w.registerShutdownSteps(sc)
}
