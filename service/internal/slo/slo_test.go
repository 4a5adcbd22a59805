package slo

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGroup(t *testing.T) {
	for route, want := range map[string]string{
		"/v1/chat":               "chat",
		"/v1/chat/stream":        "chat",
		"/v1/chat/completions":   "chat",
		"/v1/responses":          "chat",
		"/v1/responses/:id":      "",
		"/v1/images":             "images",
		"/v1/images/generations": "images",
		"/v1/agents/:id/runs":    "agents",
		"/v1/embeddings":         "embeddings",
		"/v1/agents":             "",
		"/v1/models":             "",
		"/healthz":               "",
		"/metrics":               "",
		"":                       "",
		// Templates only, never raw paths.
		"/v1/agents/calculator/runs": "",
	} {
		if got := Group(route); got != want {
			t.Errorf("Group(%q) = %q, want %q", route, got, want)
		}
	}
}

func TestObserve(t *testing.T) {
	thresholds := map[string]time.Duration{"chat": 2 * time.Second, "images": 10 * time.Second, "agents": 4 * time.Second, "embeddings": time.Second}
	type counts struct{ availGood, availBad, latGood, latBad float64 }
	for _, tc := range []struct {
		name    string
		route   string
		status  int
		latency time.Duration
		want    counts
	}{
		{"2xx under the threshold is good twice", "/v1/chat", 200, time.Second, counts{1, 0, 1, 0}},
		{"2xx at the threshold is still good", "/v1/chat", 200, 2 * time.Second, counts{1, 0, 1, 0}},
		{"2xx over the threshold is available but slow", "/v1/chat", 200, 3 * time.Second, counts{1, 0, 0, 1}},
		{"images use their own threshold", "/v1/images", 200, 9 * time.Second, counts{1, 0, 1, 0}},
		{"embeddings use their own threshold", "/v1/embeddings", 200, 1500 * time.Millisecond, counts{1, 0, 0, 1}},
		{"5xx is bad availability and no latency event", "/v1/chat/stream", 503, time.Millisecond, counts{0, 1, 0, 0}},
		{"504 is bad", "/v1/agents/:id/runs", 504, 5 * time.Second, counts{0, 1, 0, 0}},
		{"400 is excluded", "/v1/chat", 400, time.Millisecond, counts{}},
		{"429 is excluded", "/v1/chat", 429, time.Millisecond, counts{}},
		{"499 is excluded", "/v1/chat", 499, time.Millisecond, counts{}},
		{"unknown routes are ignored", "/v1/models", 500, time.Minute, counts{}},
		{"health checks are ignored", "/healthz", 200, time.Minute, counts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(prometheus.NewRegistry(), Objectives{Availability: 0.999, Latency: 0.99, Thresholds: thresholds})
			r.Observe(tc.route, tc.status, tc.latency)
			g := Group(tc.route)
			if g == "" {
				g, tc.route = "chat", "/v1/chat" // nothing may have been counted anywhere
			}
			got := counts{
				testutil.ToFloat64(r.events.WithLabelValues("availability", g, tc.route, "good")),
				testutil.ToFloat64(r.events.WithLabelValues("availability", g, tc.route, "bad")),
				testutil.ToFloat64(r.events.WithLabelValues("latency", g, tc.route, "good")),
				testutil.ToFloat64(r.events.WithLabelValues("latency", g, tc.route, "bad")),
			}
			if got != tc.want {
				t.Errorf("counts = %+v, want %+v", got, tc.want)
			}
			// Only the pre-created routes exist: an ignored route adds no series.
			if n := testutil.CollectAndCount(r.events); n != len(routeGroups)*4 {
				t.Errorf("slo_events_total has %d series, want %d", n, len(routeGroups)*4)
			}
		})
	}
}

func TestObjectiveGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewRecorder(reg, Objectives{Availability: 0.999, Latency: 0.99,
		Thresholds: map[string]time.Duration{"chat": 2 * time.Second, "images": 10 * time.Second, "agents": 4 * time.Second, "embeddings": time.Second}})
	n, err := testutil.GatherAndCount(reg, "slo_objective_ratio", "slo_latency_threshold_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2*4+4 {
		t.Errorf("objective series = %d, want 12", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "slo_latency_threshold_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "chat" && m.GetGauge().GetValue() != 2 {
				t.Errorf("chat threshold = %v, want 2", m.GetGauge().GetValue())
			}
		}
	}
}
