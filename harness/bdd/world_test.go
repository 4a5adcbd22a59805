package bdd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// requestTimeout bounds every request a step sends, so a hung service fails the step instead of
// the whole run.
const requestTimeout = 20 * time.Second

type mode int

const (
	modeNone      mode = iota
	modeShared         // the suite's default service with its built-in simulator
	modeDedicated      // a service of this scenario, routed to a simulator process of its own
	modeRemote         // the suite's AISERVICE_URL: a service known only by its address
)

// setting is one configuration override ("timeouts.chat" = "300ms").
type setting struct{ key, value string }

// world is one scenario's state. Steps fill it in order; After stops what it started.
type world struct {
	suite *suite

	mode     mode
	settings []setting
	start    launch.Options // how a dedicated service starts besides its config (cgroups, env)
	svc      *launch.Process
	simProc  *launch.Process
	sim      launch.SimControl
	behave   launch.SimBehaviour
	baseline []sample // /metrics when the scenario attached to its service
	sent     int      // API exchanges completed against the service (to let metrics settle)

	httpc  *http.Client
	header http.Header // sent with every request of the scenario

	// The last exchange.
	resp    *client.Response
	elapsed time.Duration
	body    map[string]any // the last response decoded as a JSON object (nil if it was not one)
	// responseIDs are the Responses API response ids the scenario created, in order.
	responseIDs []string

	// Several exchanges (concurrent or repeated requests).
	mu        sync.Mutex
	responses []*client.Response

	// The current stream.
	stream      *client.Stream
	streamStop  context.CancelFunc
	events      []*client.Event
	streamStart time.Time
	streamDur   time.Duration
	streamDone  bool // read to its end (or the connection ended)
	streamErr   error

	// `aiservice config` output.
	effective map[string]any
}

// useShared attaches the scenario to the shared default service and resets its simulator; with
// AISERVICE_URL, to that service.
func (w *world) useShared() error {
	if r := w.suite.remote; r != nil {
		w.mode, w.svc = modeRemote, r
		if w.suite.apiKey != "" && w.header.Get("Authorization") == "" {
			w.setHeader("Authorization", "Bearer "+w.suite.apiKey)
		}
		return nil
	}
	if w.mode == modeDedicated {
		return errors.New("this scenario already configured a dedicated service")
	}
	if w.mode == modeShared {
		return nil
	}
	p, sim, err := w.suite.sharedService()
	if err != nil {
		return err
	}
	w.mode, w.svc, w.sim = modeShared, p, sim
	if err := sim.Reset(context.Background()); err != nil {
		return err
	}
	return w.snapshotBaseline()
}

// configure asks for a dedicated service with extra settings; it starts lazily, at the first
// step that needs it, so a Background and a Scenario can both add settings.
func (w *world) configure(s ...setting) error {
	if err := w.needLocal("a service with its own configuration"); err != nil {
		return err
	}
	switch {
	case w.mode == modeShared && (w.sent > 0 || w.stream != nil):
		return errors.New("this scenario already used the shared service; configure the service before any request")
	case w.mode == modeShared:
		// "Given the service is running" in a Background, then "... running with:" in the
		// scenario: the scenario gets a service of its own instead of the shared one.
		_ = w.sim.Reset(context.Background())
		w.mode, w.svc, w.sim, w.behave, w.baseline = modeNone, nil, launch.SimControl{}, launch.SimBehaviour{}, nil
	case w.svc != nil:
		return errors.New("the service is already running; put configuration steps before requests")
	}
	w.mode = modeDedicated
	w.settings = append(w.settings, s...)
	return nil
}

// service returns the scenario's running service, starting a dedicated one when configured.
func (w *world) service() (*launch.Process, error) {
	switch w.mode {
	case modeNone:
		return nil, errors.New(`no service: start the scenario with "Given the service is running"`)
	case modeShared, modeRemote:
		return w.svc, nil
	}
	if w.svc != nil {
		return w.svc, nil
	}
	sim, err := w.simControl()
	if err != nil {
		return nil, err
	}
	extra, err := settingsYAML(w.settings)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := w.start
	o.Config = launch.UpstreamConfig(sim.URL, extra)
	p, err := launch.StartService(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("start a service with %s: %w", describe(w.settings), err)
	}
	w.svc = p
	return p, w.snapshotBaseline()
}

// simControl returns the simulator the scenario's service talks to: the shared service's
// built-in one, or a simulator process of the scenario's own.
func (w *world) simControl() (launch.SimControl, error) {
	if err := w.needLocal("the simulator's controls and counters"); err != nil {
		return launch.SimControl{}, err
	}
	switch w.mode {
	case modeNone:
		return launch.SimControl{}, errors.New(`no service: start the scenario with "Given the service is running"`)
	case modeShared:
		return w.sim, nil
	}
	if w.simProc == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p, err := launch.StartSim(ctx, launch.Options{})
		if err != nil {
			return launch.SimControl{}, err
		}
		w.simProc, w.sim = p, launch.SimControl{URL: p.URL}
	}
	return w.sim, nil
}

// needLocal fails a step that needs what only a local run has, naming the tag that keeps the
// scenario out of a run against AISERVICE_URL.
func (w *world) needLocal(what string) error {
	if r := w.suite.remote; r != nil {
		return fmt.Errorf("this step needs %s, which a service at AISERVICE_URL=%s does not offer: tag the scenario @local", what, r.URL)
	}
	return nil
}

// process is the scenario's service as a local process: for signals, exit codes and logs.
func (w *world) process() (*launch.Process, error) {
	if err := w.needLocal("the service's process (signals, exit code, logs)"); err != nil {
		return nil, err
	}
	return w.service()
}

// settingsYAML nests dotted settings into YAML; each value is read as YAML, so 300ms stays a
// string, 3 becomes a number and [a, b] a list.
func settingsYAML(ss []setting) (string, error) {
	root := map[string]any{}
	for _, s := range ss {
		var v any
		if err := yaml.Unmarshal([]byte(s.value), &v); err != nil {
			return "", fmt.Errorf("setting %s: value %q is not valid YAML: %w", s.key, s.value, err)
		}
		parts := strings.Split(s.key, ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	if len(root) == 0 {
		return "", nil
	}
	b, err := yaml.Marshal(root)
	return string(b), err
}

func describe(ss []setting) string {
	if len(ss) == 0 {
		return "no overrides"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.key + "=" + s.value
	}
	return strings.Join(parts, ", ")
}

// client builds an API client for the scenario's service with the scenario's headers.
func (w *world) client() (*client.Client, error) {
	p, err := w.service()
	if err != nil {
		return nil, err
	}
	if w.httpc == nil {
		w.httpc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	}
	c := client.New(p.URL)
	c.HTTP = w.httpc
	for k, v := range w.header {
		c.Header[k] = v
	}
	return c, nil
}

func (w *world) setHeader(name, value string) {
	if w.header == nil {
		w.header = http.Header{}
	}
	w.header.Set(name, value)
}

// record keeps the answer of a typed client call: a 2xx, an *APIError's response, or fails the
// step on a transport error.
func (w *world) record(resp *client.Response, err error, start time.Time) error {
	w.elapsed = time.Since(start)
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		r := ae.Response
		resp = &r
	case err != nil && resp == nil:
		return fmt.Errorf("request failed: %w", err)
	}
	w.keep(resp)
	return nil
}

// keep makes resp the last exchange and decodes its body when it is a JSON object.
func (w *world) keep(resp *client.Response) {
	w.resp = resp
	w.body = nil
	w.events = nil // the last exchange is not a stream
	var m map[string]any
	if json.Unmarshal(resp.Body, &m) == nil {
		w.body = m
	}
	w.mu.Lock()
	w.responses = append(w.responses, resp)
	w.sent++
	w.mu.Unlock()
}

func (w *world) last() (*client.Response, error) {
	if w.resp == nil {
		return nil, errors.New("no response yet")
	}
	return w.resp, nil
}

func reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

// cleanup ends what the scenario started: its stream, its dedicated processes; it puts the
// shared simulator back to normal.
func (w *world) cleanup() {
	if w.streamStop != nil {
		w.streamStop()
	}
	if w.stream != nil {
		_ = w.stream.Close()
	}
	if w.httpc != nil {
		w.httpc.CloseIdleConnections()
	}
	switch w.mode {
	case modeShared:
		_ = w.sim.Reset(context.Background())
	case modeDedicated:
		if w.svc != nil {
			w.svc.Stop(5 * time.Second)
		}
		if w.simProc != nil {
			w.simProc.Stop(5 * time.Second)
		}
	}
}

// poll retries check every 20 ms until it returns nil or limit passes; the last error explains
// a timeout.
func poll(limit time.Duration, check func() error) error {
	end := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("not within %s: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonPath reads a dotted path ("usage.cost_usd", "data.0.id") from a decoded JSON value.
func jsonPath(v any, path string) (any, bool) {
	for _, p := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[p]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(p, "%d", &i); err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 300ms or 2s", s)
	}
	return d, nil
}
