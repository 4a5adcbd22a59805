// Package slo holds aiservice's SLO spec and turns it into Sloth-compatible Prometheus rules
// (SLI recordings per window, metadata recordings and multi-window multi-burn-rate alerts) plus
// promtool unit tests for those alerts.
package slo

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

//go:embed slos.yaml
var specYAML []byte

// Spec is the SLO spec of one service, as written in slos.yaml.
type Spec struct {
	Service     string       `yaml:"service"`
	Selector    string       `yaml:"selector"`
	PeriodDays  int          `yaml:"period_days"`
	SLOs        []Kind       `yaml:"slos"`
	RouteGroups []RouteGroup `yaml:"route_groups"`
}

// Kind is one kind of SLO (availability, latency), applied to every route group.
type Kind struct {
	Name        string  `yaml:"name"`
	Objective   float64 `yaml:"objective"` // percent, e.g. 99.9
	Description string  `yaml:"description"`
}

// RouteGroup is a route_group label value of slo_events_total.
type RouteGroup struct {
	Name                    string  `yaml:"name"`
	LatencyThresholdSeconds float64 `yaml:"latency_threshold_seconds"`
}

// SLO is one kind of SLO for one route group: the unit Sloth generates rules for.
type SLO struct {
	Service    string
	Selector   string
	PeriodDays int
	Kind       Kind
	Group      RouteGroup
}

// Default returns the embedded spec of aiservice.
func Default() (Spec, error) {
	return Parse(specYAML)
}

// Parse decodes and validates a spec; unknown fields are errors so a typo cannot silently drop
// an SLO.
func Parse(b []byte) (Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("decode SLO spec: %w", err)
	}
	if err := s.validate(); err != nil {
		return Spec{}, fmt.Errorf("invalid SLO spec: %w", err)
	}
	return s, nil
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func (s Spec) validate() error {
	var errs []error
	if !nameRe.MatchString(s.Service) {
		errs = append(errs, fmt.Errorf("service %q: want %s", s.Service, nameRe))
	}
	if s.PeriodDays <= 0 {
		errs = append(errs, fmt.Errorf("period_days %d: want > 0", s.PeriodDays))
	}
	if len(s.SLOs) == 0 || len(s.RouteGroups) == 0 {
		errs = append(errs, errors.New("need at least one SLO and one route group"))
	}
	for _, k := range s.SLOs {
		if !nameRe.MatchString(k.Name) {
			errs = append(errs, fmt.Errorf("SLO name %q: want %s", k.Name, nameRe))
		}
		if k.Objective <= 0 || k.Objective >= 100 {
			errs = append(errs, fmt.Errorf("SLO %s objective %v: want a percentage in (0, 100)", k.Name, k.Objective))
		}
	}
	for _, g := range s.RouteGroups {
		if !nameRe.MatchString(g.Name) {
			errs = append(errs, fmt.Errorf("route group %q: want %s", g.Name, nameRe))
		}
		if g.LatencyThresholdSeconds <= 0 {
			errs = append(errs, fmt.Errorf("route group %s: latency_threshold_seconds must be > 0", g.Name))
		}
	}
	return errors.Join(errs...)
}

// Expand returns one SLO per kind and route group, kinds first, in spec order.
func (s Spec) Expand() []SLO {
	var out []SLO
	for _, k := range s.SLOs {
		for _, g := range s.RouteGroups {
			out = append(out, SLO{Service: s.Service, Selector: s.Selector, PeriodDays: s.PeriodDays, Kind: k, Group: g})
		}
	}
	return out
}

// Name is the sloth_slo label value, e.g. "chat-availability".
func (o SLO) Name() string { return o.Group.Name + "-" + o.Kind.Name }

// ID is the sloth_id label value, e.g. "aiservice-chat-availability".
func (o SLO) ID() string { return o.Service + "-" + o.Name() }

// ObjectiveRatio is the objective as a ratio (0.999), rounded so that 99.9/100 does not print as
// 0.9990000000000001 in the rules.
func (o SLO) ObjectiveRatio() float64 { return round(o.Kind.Objective / 100) }

// ErrorBudget is the fraction of events allowed to be bad (0.001).
func (o SLO) ErrorBudget() float64 { return round(1 - o.ObjectiveRatio()) }

func round(f float64) float64 { return math.Round(f*1e10) / 1e10 }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
