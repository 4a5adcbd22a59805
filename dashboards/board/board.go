// Package board builds aiservice's Grafana dashboards (cost, SLO, service overview) with the
// Grafana Foundation SDK, from the metrics in docs/metrics.md and the SLO rules of package slo.
package board

//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"aiservice/dashboards/slo"
)

// Board is one generated dashboard.
type Board struct {
	// File is the file name under dashboards/out/.
	File string
	// Dashboard is the built dashboard.
	Dashboard dashboard.Dashboard
	// RuleBased are the titles of panels that read SLO recording rules or ALERTS: those series
	// are aggregated across jobs and instances (Sloth's convention), so these panels cannot filter
	// by $job and $instance and are exempt from the linter's job/instance matcher rules.
	RuleBased []string
}

// All builds every dashboard, in a stable order.
func All(spec slo.Spec) ([]Board, error) {
	var out []Board
	for _, f := range []func(slo.Spec) (*dashboard.DashboardBuilder, string, []string){overview, cost, sloBoard} {
		b, file, ruleBased := f(spec)
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("build dashboard %s: %w", file, err)
		}
		numberPanels(&d)
		out = append(out, Board{File: file, Dashboard: d, RuleBased: ruleBased})
	}
	return out, nil
}

// numberPanels gives every panel and row a unique id, in layout order: the SDK leaves rows at 0
// and panels without one, and Grafana links, alerts and "view panel" URLs address panels by id.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			v := id
			p.Panel.Id = &v
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}

// JSON is the dashboard as Grafana imports it.
func (b Board) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b.Dashboard, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal dashboard %s: %w", b.File, err)
	}
	return append(out, '\n'), nil
}

// LintConfig is dashboard-linter's .lint file for the directory holding the dashboards: the
// only exclusions are the rule-based panels, each named.
type LintConfig struct {
	Exclusions map[string]LintRule `yaml:"exclusions"`
}

// LintRule excludes one linter rule for the listed entries.
type LintRule struct {
	Reason  string      `yaml:"reason"`
	Entries []LintEntry `yaml:"entries"`
}

// LintEntry names one panel of one dashboard.
type LintEntry struct {
	Dashboard string `yaml:"dashboard"`
	Panel     string `yaml:"panel"`
}

// Lint builds the .lint configuration for boards.
func Lint(boards []Board) LintConfig {
	const reason = "SLO recording rules (Sloth's slo:* series) and ALERTS are aggregated across jobs and instances by design; the job selector is part of the SLO spec (dashboards/slo/slos.yaml)."
	var entries []LintEntry
	for _, b := range boards {
		for _, p := range b.RuleBased {
			entries = append(entries, LintEntry{Dashboard: *b.Dashboard.Title, Panel: p})
		}
	}
	return LintConfig{Exclusions: map[string]LintRule{
		"target-job-rule":      {Reason: reason, Entries: entries},
		"target-instance-rule": {Reason: reason, Entries: entries},
	}}
}
