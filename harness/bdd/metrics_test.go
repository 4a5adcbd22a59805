package bdd

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
)

// sample is one line of the Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// family is what a # TYPE line declares.
type family struct{ name, typ string }

// parseExposition reads the text format the service serves. A small parser of our own keeps the
// harness independent of the Prometheus library versions the service happens to use.
func parseExposition(text string) ([]sample, []family, error) {
	var out []sample
	var fams []family
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" {
				fams = append(fams, family{f[2], f[3]})
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, nil, fmt.Errorf("metrics line %d %q: %w", n+1, line, err)
		}
		out = append(out, s)
	}
	return out, fams, nil
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, errors.New("no value")
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		labels, after, err := parseLabels(rest)
		if err != nil {
			return s, err
		}
		s.labels, rest = labels, after
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, errors.New("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// parseLabels reads {a="x",b="y"} (with \" \\ \n escapes) and returns what follows it.
func parseLabels(s string) (map[string]string, string, error) {
	out := map[string]string{}
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, "", errors.New("unterminated labels")
		}
		if s[i] == '}' {
			return out, s[i+1:], nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return nil, "", errors.New("bad label")
		}
		name := strings.TrimSpace(s[i : i+eq])
		i += eq + 2
		var val strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", errors.New("unterminated label value")
		}
		i++ // closing quote
		out[name] = val.String()
	}
}

// selector is a metric name with label matchers, written as in PromQL:
// http_requests_total{route="/v1/chat",code="200"}. A series matches when it has every label
// given (others are ignored); the step value is the sum over matching series.
type selector struct {
	name   string
	labels map[string]string
}

func parseSelector(s string) (selector, error) {
	sel := selector{labels: map[string]string{}}
	i := strings.IndexByte(s, '{')
	if i < 0 {
		sel.name = s
		return sel, nil
	}
	sel.name = s[:i]
	labels, rest, err := parseLabels(s[i:])
	if err != nil || strings.TrimSpace(rest) != "" {
		return sel, fmt.Errorf("%q is not a selector like name{label=\"value\"}", s)
	}
	sel.labels = labels
	return sel, nil
}

func (sel selector) sum(samples []sample) (float64, int) {
	total, n := 0.0, 0
	for _, s := range samples {
		if s.name != sel.name {
			continue
		}
		ok := true
		for k, v := range sel.labels {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += s.value
			n++
		}
	}
	return total, n
}

func (w *world) scrape() ([]sample, []family, error) {
	c, err := w.client()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := reqCtx()
	defer cancel()
	text, err := c.Metrics(ctx)
	if err != nil {
		return nil, nil, err
	}
	return parseExposition(text)
}

func (w *world) snapshotBaseline() error {
	s, _, err := w.scrape()
	w.baseline = s
	return err
}

// settled scrapes once the service has counted every exchange the scenario completed: metrics
// are recorded after the last byte is written, so a client can read an answer a moment before
// its counters move. Waiting for http_requests_total makes "increased by 0" as meaningful as
// "increased by 1".
func (w *world) settled() ([]sample, error) {
	if err := w.needLocal("exact metric deltas (only this scenario's traffic, on one instance)"); err != nil {
		return nil, err
	}
	api := selector{name: "http_requests_total"}
	before, _ := api.sum(w.baseline)
	before -= metricsScrapes(w.baseline)
	var last []sample
	err := poll(3*time.Second, func() error {
		s, _, err := w.scrape()
		if err != nil {
			return err
		}
		last = s
		now, _ := api.sum(s)
		now -= metricsScrapes(s)
		w.mu.Lock()
		want := float64(w.sent)
		w.mu.Unlock()
		if now-before < want {
			return fmt.Errorf("the service counted %v of the scenario's %v requests", now-before, want)
		}
		return nil
	})
	if err != nil && last == nil {
		return nil, err
	}
	return last, nil // a count that never settles (e.g. a request the client abandoned) is not fatal here
}

func metricsScrapes(s []sample) float64 {
	v, _ := selector{name: "http_requests_total", labels: map[string]string{"route": "/metrics"}}.sum(s)
	return v
}

const tolerance = 1e-9

func (w *world) registerMetricSteps(sc *godog.ScenarioContext) {
	delta := func(sel string) (float64, error) {
		s, err := parseSelector(sel)
		if err != nil {
			return 0, err
		}
		now, err := w.settled()
		if err != nil {
			return 0, err
		}
		after, _ := s.sum(now)
		before, _ := s.sum(w.baseline)
		return after - before, nil
	}
	sc.Step(`^the metric (\S+) increased by (\d+(?:\.\d+)?)$`, func(sel string, want float64) error {
		d, err := delta(sel)
		if err != nil {
			return err
		}
		if math.Abs(d-want) > tolerance*math.Max(1, want) {
			return fmt.Errorf("%s increased by %v during the scenario, want %v", sel, d, want)
		}
		return nil
	})
	sc.Step(`^the metric (\S+) increased by at least (\d+(?:\.\d+)?)$`, func(sel string, want float64) error {
		d, err := delta(sel)
		if err != nil {
			return err
		}
		if d < want {
			return fmt.Errorf("%s increased by %v during the scenario, want at least %v", sel, d, want)
		}
		return nil
	})
	sc.Step(`^the metric (\S+) increased by the (usage cost|prompt tokens|completion tokens)$`, func(sel, what string) error {
		u, err := w.usage()
		if err != nil {
			return err
		}
		var want float64
		switch what {
		case "usage cost":
			if u.cost == nil {
				return errors.New("the response reports no cost")
			}
			want = *u.cost
		case "prompt tokens":
			want = float64(u.prompt)
		default:
			want = float64(u.completion)
		}
		d, err := delta(sel)
		if err != nil {
			return err
		}
		if math.Abs(d-want) > 1e-12+tolerance*want {
			return fmt.Errorf("%s increased by %v, want the %s %v", sel, d, what, want)
		}
		return nil
	})
	sc.Step(`^the metric (\S+) is (\d+(?:\.\d+)?)$`, func(sel string, want float64) error {
		s, err := parseSelector(sel)
		if err != nil {
			return err
		}
		now, err := w.settled()
		if err != nil {
			return err
		}
		got, n := s.sum(now)
		if n == 0 {
			return fmt.Errorf("no series matches %s", sel)
		}
		if math.Abs(got-want) > tolerance {
			return fmt.Errorf("%s is %v, want %v", sel, got, want)
		}
		return nil
	})
	sc.Step(`^the circuit for "([^"]*)" is (closed|half-open|open)$`, func(model, state string) error {
		want := map[string]float64{"closed": 0, "half-open": 1, "open": 2}[state]
		sel := selector{name: "circuit_breaker_state", labels: map[string]string{"model": model}}
		now, err := w.settled()
		if err != nil {
			return err
		}
		got, n := sel.sum(now)
		if n != 1 {
			return fmt.Errorf("%d circuit_breaker_state series for model %q, want 1", n, model)
		}
		if got != want {
			return fmt.Errorf("the circuit for %q is in state %v, want %v (%s)", model, got, want, state)
		}
		return nil
	})
	sc.Step(`^the metrics page exposes:$`, func(t *godog.Table) error {
		if _, err := w.settled(); err != nil {
			return err
		}
		_, fams, err := w.scrape()
		if err != nil {
			return err
		}
		types := map[string]string{}
		for _, f := range fams {
			types[f.name] = f.typ
		}
		var missing []string
		for _, row := range rows(t) {
			name, typ := row["metric"], row["type"]
			switch got, ok := types[name]; {
			case !ok:
				missing = append(missing, name+" (absent)")
			case got != typ:
				missing = append(missing, fmt.Sprintf("%s (a %s, want a %s)", name, got, typ))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("metrics page: %s", strings.Join(missing, "; "))
		}
		return nil
	})
	sc.Step(`^no metric series carries the route "([^"]*)"$`, func(route string) error {
		now, err := w.settled()
		if err != nil {
			return err
		}
		for _, s := range now {
			if s.labels["route"] == route {
				return fmt.Errorf("series %s%v carries the raw path %q: label cardinality is unbounded", s.name, s.labels, route)
			}
		}
		return nil
	})
}

// rows turns a data table with a header row into maps keyed by the header cells.
func rows(t *godog.Table) []map[string]string {
	if t == nil || len(t.Rows) == 0 {
		return nil
	}
	head := t.Rows[0].Cells
	out := make([]map[string]string, 0, len(t.Rows)-1)
	for _, r := range t.Rows[1:] {
		m := map[string]string{}
		for i, c := range r.Cells {
			if i < len(head) {
				m[strings.TrimSpace(head[i].Value)] = strings.TrimSpace(c.Value)
			}
		}
		out = append(out, m)
	}
	return out
}
