package slo

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"aiservice/dashboards/internal/check"
)

func defaultSpec(t *testing.T) Spec {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseRejectsBadSpecs(t *testing.T) {
	const good = "service: svc\nperiod_days: 30\nslos: [{name: availability, objective: 99.9}]\nroute_groups: [{name: chat, latency_threshold_seconds: 2}]\n"
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"valid", good, ""},
		{"unknown field", good + "objectve: 1\n", "field objectve not found"},
		{"objective of 100", strings.Replace(good, "99.9", "100", 1), "objective 100"},
		{"no period", strings.Replace(good, "period_days: 30", "period_days: 0", 1), "period_days 0"},
		{"bad name", strings.Replace(good, "name: chat", "name: Chat Group", 1), `route group "Chat Group"`},
		{"no threshold", strings.Replace(good, ", latency_threshold_seconds: 2", "", 1), "latency_threshold_seconds must be > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSpecMatchesTheServiceDefaults(t *testing.T) {
	// docs/metrics.md: availability 0.999, latency 0.99, thresholds chat 2 s, images 10 s, agents 4 s, embeddings 1 s.
	s := defaultSpec(t)
	want := map[string]float64{"availability": 0.999, "latency": 0.99}
	for _, k := range s.SLOs {
		o := SLO{Kind: k}
		if o.ObjectiveRatio() != want[k.Name] {
			t.Errorf("%s objective %v, want %v", k.Name, o.ObjectiveRatio(), want[k.Name])
		}
	}
	thresholds := map[string]float64{"chat": 2, "images": 10, "agents": 4, "embeddings": 1}
	for _, g := range s.RouteGroups {
		if g.LatencyThresholdSeconds != thresholds[g.Name] {
			t.Errorf("route group %s threshold %v, want %v", g.Name, g.LatencyThresholdSeconds, thresholds[g.Name])
		}
	}
	if len(s.RouteGroups) != len(thresholds) || len(s.SLOs) != len(want) || s.PeriodDays != 30 {
		t.Errorf("spec has %d route groups, %d SLOs, %d days; want %d, 2, 30", len(s.RouteGroups), len(s.SLOs), s.PeriodDays, len(thresholds))
	}
}

// TestRulesFollowSloth checks the names tooling built for Sloth looks for.
func TestRulesFollowSloth(t *testing.T) {
	s := defaultSpec(t)
	f := s.Rules("test")
	if got, want := len(f.Groups), 3*len(s.Expand()); got != want {
		t.Fatalf("%d groups, want %d (SLI, meta and alert groups per SLO)", got, want)
	}
	for _, o := range s.Expand() {
		t.Run(o.ID(), func(t *testing.T) {
			records := map[string]Rule{}
			var alerts []Rule
			for _, g := range f.Groups {
				if !strings.HasSuffix(g.Name, "-"+o.ID()) {
					continue
				}
				for _, r := range g.Rules {
					if r.Alert != "" {
						alerts = append(alerts, r)
					} else {
						records[r.Record] = r
					}
					if _, err := check.Parse(r.Expr); err != nil {
						t.Error(err)
					}
				}
			}
			wantRecords := []string{MetricObjective, MetricErrorBudget, MetricTimePeriodDays, MetricCurrentBurnRate,
				MetricPeriodBurnRate, MetricBudgetRemaining, MetricInfo, "slo:sli_error:ratio_rate30d"}
			for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"} {
				wantRecords = append(wantRecords, "slo:sli_error:ratio_rate"+w)
			}
			for _, name := range wantRecords {
				r, ok := records[name]
				if !ok {
					t.Errorf("no %s recording", name)
					continue
				}
				for k, v := range map[string]string{LabelID: o.ID(), LabelService: "aiservice", LabelSLO: o.Name()} {
					if r.Labels[k] != v {
						t.Errorf("%s: label %s=%q, want %q", name, k, r.Labels[k], v)
					}
				}
			}
			if len(records) != len(wantRecords) {
				t.Errorf("%d recordings, want %d", len(records), len(wantRecords))
			}
			var sev []string
			for _, a := range alerts {
				sev = append(sev, a.Labels[LabelSeverity])
				if a.Alert != o.AlertName() {
					t.Errorf("alert %s, want %s", a.Alert, o.AlertName())
				}
			}
			if !slices.Equal(sev, []string{"page", "ticket"}) {
				t.Errorf("alert severities %v, want [page ticket]", sev)
			}
		})
	}
}

func TestAlertExpressionUsesTheBurnRates(t *testing.T) {
	o := defaultSpec(t).Expand()[0] // chat availability: budget 0.001
	tests := []struct {
		severity string
		want     []string
	}{
		{"page", []string{"ratio_rate5m{", "ratio_rate1h{", "(14.4 * 0.001)", "ratio_rate30m{", "ratio_rate6h{", "(6 * 0.001)"}},
		{"ticket", []string{"ratio_rate2h{", "ratio_rate1d{", "(3 * 0.001)", "ratio_rate6h{", "ratio_rate3d{", "(1 * 0.001)"}},
	}
	for _, tt := range tests {
		expr := o.AlertExpr(severityByName(tt.severity))
		for _, w := range tt.want {
			if !strings.Contains(expr, w) {
				t.Errorf("%s alert: %q not in\n%s", tt.severity, w, expr)
			}
		}
	}
}

func TestScenariosCoverEveryAlert(t *testing.T) {
	s := defaultSpec(t)
	fired := map[string]bool{}
	quiet := map[string]bool{}
	for _, sc := range Scenarios {
		for _, name := range sc.SLOs {
			if !slices.ContainsFunc(s.Expand(), func(o SLO) bool { return o.Name() == name }) {
				t.Errorf("scenario %q: no SLO %s", sc.Name, name)
			}
			if len(sc.Want) == 0 {
				quiet[name] = true
			}
			for _, f := range sc.Want {
				fired[name+"/"+f.Severity] = true
			}
		}
		minutes := 0
		for _, p := range sc.Phases {
			minutes += p.Minutes
			if p.Minutes%evalMinutes != 0 {
				t.Errorf("scenario %q: phase of %d min, not a multiple of the %d min evaluation interval", sc.Name, p.Minutes, evalMinutes)
			}
		}
	}
	for _, o := range s.Expand() {
		for _, sev := range Severities {
			if !fired[o.Name()+"/"+sev.Name] {
				t.Errorf("no scenario fires the %s alert of %s", sev.Name, o.Name())
			}
		}
		if !quiet[o.Name()] {
			t.Errorf("no scenario checks that %s stays quiet", o.Name())
		}
	}
}

func TestValuesNotation(t *testing.T) {
	tests := []struct {
		phases []Phase
		want   string
	}{
		{[]Phase{{Burn: 1, Minutes: 10}}, "0+2.5x4"},
		{[]Phase{{Burn: 1, Minutes: 10}, {Burn: 2, Minutes: 5}}, "0+2.5x4 15+5x1"},
	}
	for _, tt := range tests {
		got := values(tt.phases, func(p Phase) float64 { return p.Burn })
		if got != tt.want {
			t.Errorf("values(%v) = %q, want %q", tt.phases, got, tt.want)
		}
	}
}

func ExampleSLO_AlertName() {
	o := SLO{Service: "aiservice", Kind: Kind{Name: "latency"}, Group: RouteGroup{Name: "chat"}}
	fmt.Println(o.ID(), o.AlertName())
	// Output: aiservice-chat-latency AiserviceChatLatencySLO
}
