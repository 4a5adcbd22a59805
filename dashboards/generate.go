// Package dashboards generates aiservice's Grafana dashboards and Sloth-compatible SLO rules
// (with their promtool tests) into out/; see README.md.
package dashboards

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"aiservice/dashboards/board"
	"aiservice/dashboards/slo"
)

// Names of the generated rule files, relative to out/.
const (
	RulesFile     = "slo-rules.yaml"
	RuleTestsFile = "slo-rules.test.yaml"
	LintFile      = ".lint"
)

// slothVersion is written in sloth_slo_info so tooling can tell these rules from Sloth's own.
const slothVersion = "aiservice-dashboards"

// Files generates every file of out/, by name.
func Files() (map[string][]byte, error) {
	spec, err := slo.Default()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	boards, err := board.All(spec)
	if err != nil {
		return nil, err
	}
	for _, b := range boards {
		if files[b.File], err = b.JSON(); err != nil {
			return nil, err
		}
	}
	lint, err := yaml.Marshal(board.Lint(boards))
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", LintFile, err)
	}
	files[LintFile] = append([]byte("# dashboard-linter configuration, generated with the dashboards (dashboards/board/board.go). DO NOT EDIT.\n"), lint...)
	if files[RulesFile], err = slo.Marshal(spec.Rules(slothVersion)); err != nil {
		return nil, err
	}
	// The input series carry the job the spec selects on (job="aiservice").
	if files[RuleTestsFile], err = slo.Marshal(spec.PromtoolTests(RulesFile, spec.Service)); err != nil {
		return nil, err
	}
	return files, nil
}
