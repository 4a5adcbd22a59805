package slo

import (
	"fmt"
	"slices"
	"strings"
)

// The promtool unit tests are generated from a table of incidents, each stated as burn rates (the
// error ratio in multiples of the error budget) over time, so one scenario exercises every SLO
// whatever its objective. The expectations come from the table, not from the rule generator: a
// wrong factor or window in the rules makes promtool fail.

// Phase is a stretch of constant traffic.
type Phase struct {
	Burn    float64 // error ratio / error budget
	Minutes int
}

// Firing is an alert expected to fire at the end of a scenario: its severity and the short window
// of the condition that fired it (the sloth_window label of the alert).
type Firing struct {
	Severity string
	Window   string
}

// Scenario is one promtool test group, played for the SLOs named (sloth_slo). Each scenario runs
// only some SLOs because promtool re-evaluates every rule over three days of samples per group:
// TestScenariosCoverEveryAlert checks that together they still fire every alert of every SLO.
type Scenario struct {
	Name   string
	SLOs   []string
	Phases []Phase
	Want   []Firing
}

// baseline is three days (the longest alert window) of healthy traffic before an incident, so
// that every window sees a realistic history.
var baseline = Phase{Burn: 0.25, Minutes: 3 * 24 * 60}

// Scenarios cover each condition of each alert firing, and the cases the multi-window design
// exists for not firing. The burn factors in comments are the window averages at the end.
var Scenarios = []Scenario{
	{
		Name:   "healthy: spending 90% of the budget over 3 days alerts nobody",
		SLOs:   []string{"chat-latency", "agents-availability", "embeddings-availability", "embeddings-latency"},
		Phases: []Phase{{Burn: 0.9, Minutes: 3*24*60 + 60}},
	},
	{
		// 1h and 5m at 20 > 14.4; 1d at 1.07 and 3d at 0.52 keep the ticket quiet.
		Name:   "fast burn pages through the 1h and 5m windows",
		SLOs:   []string{"chat-availability", "images-latency", "agents-availability", "embeddings-latency"},
		Phases: []Phase{baseline, {Burn: 20, Minutes: 60}},
		Want:   []Firing{{"page", "5m"}},
	},
	{
		// 5m at 20 but 1h at 6.8; 30m at 13 but 6h at 1.35: the long windows filter out spikes.
		Name:   "a 20-minute spike does not page",
		SLOs:   []string{"images-availability", "agents-latency"},
		Phases: []Phase{baseline, {Burn: 20, Minutes: 20}},
	},
	{
		// 1h at 8 < 14.4; 6h and 30m at 8 > 6; 1d at 2.2 < 3 and 3d at 0.9 < 1.
		Name:   "slow burn pages through the 6h and 30m windows",
		SLOs:   []string{"images-availability", "chat-latency", "agents-latency", "embeddings-availability"},
		Phases: []Phase{baseline, {Burn: 8, Minutes: 6 * 60}},
		Want:   []Firing{{"page", "30m"}},
	},
	{
		// 1h at 13.5 and 30m at 6.8 still burn, but 5m is back to 0.25 and 6h (3.5) never reached
		// 6: the short window resets the page soon after recovery.
		Name:   "recovered fast burn stops paging",
		SLOs:   []string{"chat-availability", "images-latency"},
		Phases: []Phase{baseline, {Burn: 20, Minutes: 60}, {Burn: 0.25, Minutes: 20}},
	},
	{
		// 2h and 1d at 4 > 3; 1h at 4 and 6h at 4 stay under the page factors.
		Name:   "day-long burn opens a ticket through the 1d and 2h windows",
		SLOs:   []string{"chat-availability", "images-latency", "agents-availability", "embeddings-latency"},
		Phases: []Phase{baseline, {Burn: 4, Minutes: 24 * 60}},
		Want:   []Firing{{"ticket", "2h"}},
	},
	{
		// 3d and 6h at 1.5 > 1; 2h at 1.5 < 3.
		Name:   "steady over-budget burn opens a ticket through the 3d and 6h windows",
		SLOs:   []string{"images-availability", "chat-latency", "agents-latency", "embeddings-availability"},
		Phases: []Phase{{Burn: 1.5, Minutes: 3*24*60 + 60}},
		Want:   []Firing{{"ticket", "6h"}},
	},
}

// sampleMinutes is the input series' sample interval: as coarse as the 5m window allows (rate
// needs two samples in it). evalMinutes is promtool's rule evaluation interval, coarse too because
// promtool's run time grows with the number of evaluations of the hundred rules. Every phase is
// a multiple of evalMinutes long so that the alerts are checked right at its end.
const (
	sampleMinutes = 2.5
	evalMinutes   = 20
)

// eventsPerMinute is the simulated traffic of every SLO; high enough that the bad events of the
// smallest burn are not a rounding artefact.
const eventsPerMinute = 10000

// PromtoolTests is a promtool test file (`promtool test rules`).
type PromtoolTests struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	GroupEvalOrder     []string    `yaml:"group_eval_order"`
	Tests              []TestGroup `yaml:"tests"`
}

// TestGroup is one entry of tests:.
type TestGroup struct {
	Name          string          `yaml:"name"`
	Interval      string          `yaml:"interval"`
	InputSeries   []InputSeries   `yaml:"input_series"`
	AlertRuleTest []AlertRuleTest `yaml:"alert_rule_test,omitempty"`
	PromQLExpr    []PromQLExpr    `yaml:"promql_expr_test,omitempty"`
}

// InputSeries is a series in promtool's expanding notation.
type InputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertRuleTest states every alert of one name at one time; an empty ExpAlerts asserts that none
// fires.
type AlertRuleTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []ExpAlert `yaml:"exp_alerts"`
}

// ExpAlert is one expected alert.
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// PromQLExpr checks the value of an expression.
type PromQLExpr struct {
	Expr       string      `yaml:"expr"`
	EvalTime   string      `yaml:"eval_time"`
	ExpSamples []ExpSample `yaml:"exp_samples"`
}

// ExpSample is one expected sample.
type ExpSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// values renders a cumulative counter growing by perMinute(phase) during each phase, one sample
// every sampleMinutes, in promtool's expanding notation ("a+bxn" is a, a+b, ..., a+n*b).
func values(phases []Phase, perMinute func(Phase) float64) string {
	var parts []string
	cum := 0.0
	for i, p := range phases {
		step := round(perMinute(p) * sampleMinutes)
		n := int(float64(p.Minutes) / sampleMinutes)
		if i == 0 {
			parts = append(parts, fmt.Sprintf("0+%sx%d", formatFloat(step), n))
		} else {
			parts = append(parts, fmt.Sprintf("%s+%sx%d", formatFloat(round(cum+step)), formatFloat(step), n-1))
		}
		cum = round(cum + step*float64(n))
	}
	return strings.Join(parts, " ")
}

func seriesName(labels map[string]string) string {
	keys := []string{"job", LabelKind, LabelRouteGroup, "route", "result"}
	var m []string
	for _, k := range keys {
		m = append(m, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return EventsMetric + "{" + strings.Join(m, ", ") + "}"
}

// PromtoolTests generates the tests of rules in ruleFile; job is the job label of the input
// series (it must match the spec's selector).
func (s Spec) PromtoolTests(ruleFile, job string) PromtoolTests {
	t := PromtoolTests{RuleFiles: []string{ruleFile}, EvaluationInterval: fmt.Sprintf("%dm", evalMinutes)}
	// promtool evaluates groups in random order unless told; with an evaluation interval longer
	// than the 5m lookback an alert evaluated before its SLI group would see no SLI at all.
	for _, prefix := range []string{sliGroupPrefix, metaGroupPrefix, alertGroupPrefix} {
		for _, o := range s.Expand() {
			t.GroupEvalOrder = append(t.GroupEvalOrder, prefix+o.ID())
		}
	}
	for _, sc := range Scenarios {
		minutes := 0
		for _, p := range sc.Phases {
			minutes += p.Minutes
		}
		eval := fmt.Sprintf("%dm", minutes)
		g := TestGroup{Name: sc.Name, Interval: fmt.Sprintf("%ss", formatFloat(sampleMinutes*60))}
		if len(t.Tests) == 0 {
			// The metadata recordings are constants, the same in every group: check them once.
			for _, o := range s.Expand() {
				g.PromQLExpr = append(g.PromQLExpr,
					metaSample(MetricObjective, o, eval, o.ObjectiveRatio()),
					metaSample(MetricErrorBudget, o, eval, o.ErrorBudget()),
					metaSample(MetricTimePeriodDays, o, eval, float64(o.PeriodDays)),
				)
			}
		}
		for _, o := range s.Expand() {
			if !slices.Contains(sc.SLOs, o.Name()) {
				continue
			}
			base := map[string]string{"job": job, LabelKind: o.Kind.Name, LabelRouteGroup: o.Group.Name, "route": "/v1/" + o.Group.Name}
			bad := func(p Phase) float64 { return round(p.Burn * o.ErrorBudget() * eventsPerMinute) }
			good := func(p Phase) float64 { return eventsPerMinute - bad(p) }
			g.InputSeries = append(g.InputSeries,
				InputSeries{Series: seriesName(merge(base, map[string]string{"result": "good"})), Values: values(sc.Phases, good)},
				InputSeries{Series: seriesName(merge(base, map[string]string{"result": "bad"})), Values: values(sc.Phases, bad)},
			)
			at := AlertRuleTest{EvalTime: eval, Alertname: o.AlertName(), ExpAlerts: []ExpAlert{}}
			for _, f := range sc.Want {
				sev := severityByName(f.Severity)
				at.ExpAlerts = append(at.ExpAlerts, ExpAlert{
					ExpLabels:      merge(o.Labels(), AlertLabels(sev), map[string]string{LabelWindow: f.Window}),
					ExpAnnotations: o.AlertAnnotations(sev),
				})
			}
			g.AlertRuleTest = append(g.AlertRuleTest, at)
		}
		t.Tests = append(t.Tests, g)
	}
	return t
}

func metaSample(metric string, o SLO, eval string, v float64) PromQLExpr {
	l := o.Labels()
	keys := []string{LabelKind, LabelRouteGroup, LabelID, LabelService, LabelSLO}
	var m []string
	for _, k := range keys {
		m = append(m, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return PromQLExpr{
		Expr:       metric + o.selector(),
		EvalTime:   eval,
		ExpSamples: []ExpSample{{Labels: metric + "{" + strings.Join(m, ", ") + "}", Value: v}},
	}
}

func severityByName(name string) Severity {
	for _, s := range Severities {
		if s.Name == name {
			return s
		}
	}
	panic("unknown severity " + name) // a typo in Scenarios, caught by the first test run
}
