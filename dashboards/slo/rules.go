package slo

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Label names and metric names follow Sloth's generated rules so that Sloth's Grafana dashboards
// and other tooling built on them work unchanged.
const (
	LabelID       = "sloth_id"
	LabelService  = "sloth_service"
	LabelSLO      = "sloth_slo"
	LabelWindow   = "sloth_window"
	LabelSeverity = "sloth_severity"
	// Extra labels of our own on every recorded series, so that dashboards can select by the same
	// names the service uses on slo_events_total.
	LabelKind       = "slo"
	LabelRouteGroup = "route_group"

	MetricObjective       = "slo:objective:ratio"
	MetricErrorBudget     = "slo:error_budget:ratio"
	MetricTimePeriodDays  = "slo:time_period:days"
	MetricCurrentBurnRate = "slo:current_burn_rate:ratio"
	MetricPeriodBurnRate  = "slo:period_burn_rate:ratio"
	MetricBudgetRemaining = "slo:period_error_budget_remaining:ratio"
	MetricInfo            = "sloth_slo_info"

	// EventsMetric is the service's SLI counter (docs/metrics.md).
	EventsMetric = "slo_events_total"

	sliGroupPrefix   = "sloth-slo-sli-recordings-"
	metaGroupPrefix  = "sloth-slo-meta-recordings-"
	alertGroupPrefix = "sloth-slo-alerts-"
)

// SLIErrorMetric is the name of the recorded error ratio over window w, e.g.
// slo:sli_error:ratio_rate5m.
func SLIErrorMetric(w string) string { return "slo:sli_error:ratio_rate" + w }

// Windows are the SLI windows recorded for every SLO: those the burn-rate alerts use, plus the
// SLO period which is recorded separately (see periodSLIRule).
var Windows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

// BurnCondition fires when the error ratio is above Factor times the error budget over both
// windows: the long window makes the alert significant, the short one makes it reset quickly
// once the problem is fixed (Google SRE workbook, "multiwindow, multi-burn-rate alerts").
type BurnCondition struct {
	Short, Long string
	Factor      float64
}

// Severity is one alert rule per SLO; either of its conditions fires it.
type Severity struct {
	Name       string // sloth_severity: page or ticket
	Severity   string // severity label for routing
	Conditions [2]BurnCondition
}

// Severities are the SRE workbook's (and Sloth's) defaults for a 30-day period: a page spends
// 2 % of the budget in 1 h or 5 % in 6 h, a ticket 10 % in 1 d or 10 % in 3 d.
var Severities = []Severity{
	{Name: "page", Severity: "critical", Conditions: [2]BurnCondition{{"5m", "1h", 14.4}, {"30m", "6h", 6}}},
	{Name: "ticket", Severity: "warning", Conditions: [2]BurnCondition{{"2h", "1d", 3}, {"6h", "3d", 1}}},
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one group of a rule file.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// PeriodWindow is the SLO period as a Prometheus duration, e.g. "30d".
func (o SLO) PeriodWindow() string { return fmt.Sprintf("%dd", o.PeriodDays) }

// AlertName is the name shared by the page and ticket alert of an SLO (as Sloth does; the
// sloth_severity label tells them apart), e.g. AiserviceChatAvailabilitySLO.
func (o SLO) AlertName() string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(o.ID(), func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "SLO"
}

// Labels are the identifying labels of every series recorded for the SLO.
func (o SLO) Labels() map[string]string {
	return map[string]string{
		LabelID:         o.ID(),
		LabelService:    o.Service,
		LabelSLO:        o.Name(),
		LabelKind:       o.Kind.Name,
		LabelRouteGroup: o.Group.Name,
	}
}

// selector matches the SLO's own recorded series, as Sloth writes it.
func (o SLO) selector() string {
	return fmt.Sprintf(`{%s=%q, %s=%q, %s=%q}`, LabelID, o.ID(), LabelService, o.Service, LabelSLO, o.Name())
}

func (o SLO) eventsSelector(extra string) string {
	m := []string{}
	if o.Selector != "" {
		m = append(m, o.Selector)
	}
	m = append(m, fmt.Sprintf("%s=%q", LabelKind, o.Kind.Name), fmt.Sprintf("%s=%q", LabelRouteGroup, o.Group.Name))
	if extra != "" {
		m = append(m, extra)
	}
	return EventsMetric + "{" + strings.Join(m, ",") + "}"
}

// SLIErrorExpr is the ratio of bad to all events over window w.
//
// Two deliberate differences from a plain bad/total ratio: a missing bad series (the service
// has not seen a bad event yet) counts as zero errors rather than as no data, and a window
// without any event yields no sample rather than 0/0 = NaN, which would otherwise poison the
// 30-day average for a whole period.
func (o SLO) SLIErrorExpr(w string) string {
	return fmt.Sprintf("(sum(rate(%s[%s])) or vector(0))\n/\n(sum(rate(%s[%s])) > 0)\n",
		o.eventsSelector(`result="bad"`), w, o.eventsSelector(""), w)
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (o SLO) sliRules() RuleGroup {
	g := RuleGroup{Name: sliGroupPrefix + o.ID()}
	for _, w := range Windows {
		g.Rules = append(g.Rules, Rule{
			Record: SLIErrorMetric(w),
			Expr:   o.SLIErrorExpr(w),
			Labels: merge(o.Labels(), map[string]string{LabelWindow: w}),
		})
	}
	// The period's ratio is the average of the 5m ratios rather than rate() over 30 days of raw
	// samples, which would be too costly to evaluate every interval (Sloth does the same).
	w5 := SLIErrorMetric("5m") + o.selector()
	g.Rules = append(g.Rules, Rule{
		Record: SLIErrorMetric(o.PeriodWindow()),
		Expr: fmt.Sprintf("sum_over_time(%s[%s])\n/ ignoring (%s)\ncount_over_time(%s[%s])\n",
			w5, o.PeriodWindow(), LabelWindow, w5, o.PeriodWindow()),
		// Sloth sets only sloth_window here; the SLO's labels are repeated so that promtool's lint
		// does not see the same series recorded by every SLO's group.
		Labels: merge(o.Labels(), map[string]string{LabelWindow: o.PeriodWindow()}),
	})
	return g
}

func (o SLO) metaRules(version string) RuleGroup {
	l := o.Labels()
	on := fmt.Sprintf("/ on(%s, %s, %s) group_left\n", LabelID, LabelSLO, LabelService)
	return RuleGroup{
		Name: metaGroupPrefix + o.ID(),
		Rules: []Rule{
			{Record: MetricObjective, Expr: fmt.Sprintf("vector(%s)", formatFloat(o.ObjectiveRatio())), Labels: l},
			{Record: MetricErrorBudget, Expr: fmt.Sprintf("vector(%s)", formatFloat(o.ErrorBudget())), Labels: l},
			{Record: MetricTimePeriodDays, Expr: fmt.Sprintf("vector(%d)", o.PeriodDays), Labels: l},
			{
				Record: MetricCurrentBurnRate,
				Expr:   SLIErrorMetric("5m") + o.selector() + "\n" + on + MetricErrorBudget + o.selector() + "\n",
				Labels: l,
			},
			{
				Record: MetricPeriodBurnRate,
				Expr:   SLIErrorMetric(o.PeriodWindow()) + o.selector() + "\n" + on + MetricErrorBudget + o.selector() + "\n",
				Labels: l,
			},
			{Record: MetricBudgetRemaining, Expr: "1 - " + MetricPeriodBurnRate + o.selector(), Labels: l},
			{
				Record: MetricInfo,
				Expr:   "vector(1)",
				Labels: merge(l, map[string]string{"sloth_mode": "cli-gen-prom", "sloth_spec": "prometheus/v1", "sloth_version": version, "sloth_objective": formatFloat(o.Kind.Objective)}),
			},
		},
	}
}

// AlertExpr is Sloth's multi-window expression for one severity: the labels of the result are
// those of the first matching short-window series (so sloth_window tells which pair fired).
func (o SLO) AlertExpr(s Severity) string {
	cond := func(c BurnCondition) string {
		thr := fmt.Sprintf("(%s * %s)", formatFloat(c.Factor), formatFloat(o.ErrorBudget()))
		return fmt.Sprintf("(\n    (%s%s > %s)\n    and ignoring (%s)\n    (%s%s > %s)\n)",
			SLIErrorMetric(c.Short), o.selector(), thr, LabelWindow, SLIErrorMetric(c.Long), o.selector(), thr)
	}
	return cond(s.Conditions[0]) + "\nor ignoring (" + LabelWindow + ")\n" + cond(s.Conditions[1]) + "\n"
}

func (o SLO) what() string {
	if o.Kind.Name == "latency" {
		return fmt.Sprintf("requests slower than %ss", formatFloat(o.Group.LatencyThresholdSeconds))
	}
	return "server errors (5xx)"
}

// AlertLabels are the labels an alert rule adds to its expression's labels.
func AlertLabels(s Severity) map[string]string {
	return map[string]string{LabelSeverity: s.Name, "severity": s.Severity}
}

// AlertAnnotations are literal (no templates) so the promtool tests can state them exactly.
func (o SLO) AlertAnnotations(s Severity) map[string]string {
	return map[string]string{
		"title": fmt.Sprintf("(%s) %s %s SLO error budget burn rate is too fast.", s.Name, o.Service, o.Name()),
		"summary": fmt.Sprintf("%s %s: too many %s on the %s routes (objective %s%% over %d days).",
			o.Service, o.Kind.Name, o.what(), o.Group.Name, formatFloat(o.Kind.Objective), o.PeriodDays),
		"description": fmt.Sprintf("The error ratio is above %s× the error budget over %s and %s, or above %s× over %s and %s. See the aiservice / SLO dashboard.",
			formatFloat(s.Conditions[0].Factor), s.Conditions[0].Long, s.Conditions[0].Short,
			formatFloat(s.Conditions[1].Factor), s.Conditions[1].Long, s.Conditions[1].Short),
	}
}

func (o SLO) alertRules() RuleGroup {
	g := RuleGroup{Name: alertGroupPrefix + o.ID()}
	for _, s := range Severities {
		g.Rules = append(g.Rules, Rule{
			Alert:       o.AlertName(),
			Expr:        o.AlertExpr(s),
			Labels:      merge(AlertLabels(s), map[string]string{LabelKind: o.Kind.Name, LabelRouteGroup: o.Group.Name}),
			Annotations: o.AlertAnnotations(s),
		})
	}
	return g
}

// Rules generates the rule file: for every SLO, Sloth's three groups (SLI recordings, metadata
// recordings, alerts). version ends up in sloth_slo_info.
func (s Spec) Rules(version string) RuleFile {
	var f RuleFile
	for _, o := range s.Expand() {
		f.Groups = append(f.Groups, o.sliRules(), o.metaRules(version), o.alertRules())
	}
	return f
}

// Header starts every generated file.
const Header = "# Code generated by `go tool task dashboards` (aiservice/dashboards) from dashboards/slo/slos.yaml. DO NOT EDIT.\n"

// Marshal renders a rule file or a promtool test file as YAML with the generated-code header.
func Marshal(v any) ([]byte, error) {
	var b strings.Builder
	b.WriteString(Header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return []byte(b.String()), nil
}
