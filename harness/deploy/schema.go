// Package deploy checks the deployment-as-code of aiservice offline: the Dockerfile, the
// Kustomize base and overlays, the Argo CD and Flux objects and the Terraform module, strictly
// decoded into their real types (or validated against a CRD schema) and checked against the
// service's own configuration, read from the built binary.
//
// This file holds the one piece that is not a test: a validator for the structural OpenAPI
// v3 schemas of CustomResourceDefinitions, used for Argo CD's Application, whose Go module is
// too heavy to import here.
package deploy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Schema is the subset of a CRD's openAPIV3Schema (apiextensions.k8s.io/v1 JSONSchemaProps) that
// a structural schema uses. A schema file with any other keyword fails to load, so a misspelled
// keyword cannot silently switch a check off.
type Schema struct {
	Type                   string             `json:"type,omitempty"`
	Format                 string             `json:"format,omitempty"`
	Description            string             `json:"description,omitempty"`
	Properties             map[string]*Schema `json:"properties,omitempty"`
	AdditionalProperties   *Schema            `json:"additionalProperties,omitempty"`
	Items                  *Schema            `json:"items,omitempty"`
	Required               []string           `json:"required,omitempty"`
	Enum                   []any              `json:"enum,omitempty"`
	Nullable               bool               `json:"nullable,omitempty"`
	IntOrString            bool               `json:"x-kubernetes-int-or-string,omitempty"`
	PreserveUnknownFields  bool               `json:"x-kubernetes-preserve-unknown-fields,omitempty"`
	EmbeddedResource       bool               `json:"x-kubernetes-embedded-resource,omitempty"`
	MinItems               *int64             `json:"minItems,omitempty"`
	MaxItems               *int64             `json:"maxItems,omitempty"`
	MinLength              *int64             `json:"minLength,omitempty"`
	Minimum                *float64           `json:"minimum,omitempty"`
	Maximum                *float64           `json:"maximum,omitempty"`
	XKubernetesListType    string             `json:"x-kubernetes-list-type,omitempty"`
	XKubernetesMapType     string             `json:"x-kubernetes-map-type,omitempty"`
	XKubernetesListMapKeys []string           `json:"x-kubernetes-list-map-keys,omitempty"`
}

// LoadSchema reads a schema from YAML (or JSON), strictly: unknown or duplicate keywords and
// case mismatches are errors.
func LoadSchema(b []byte) (*Schema, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var s Schema
	strict, err := sigsjson.UnmarshalStrict(j, &s)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("schema: %w", errors.Join(strict...))
	}
	if err := s.check("<root>"); err != nil {
		return nil, err
	}
	return &s, nil
}

// check rejects schemas that are not structural in the ways that matter to Validate: every node
// says its type (or is int-or-string / preserves unknown fields), and required names a property.
func (s *Schema) check(path string) error {
	if s.Type == "" && !s.IntOrString && !s.PreserveUnknownFields {
		return fmt.Errorf("schema %s: no type (a structural schema types every node)", path)
	}
	if !slices.Contains([]string{"", "object", "array", "string", "integer", "number", "boolean"}, s.Type) {
		return fmt.Errorf("schema %s: unknown type %q", path, s.Type)
	}
	if s.Type == "array" && s.Items == nil {
		return fmt.Errorf("schema %s: array without items", path)
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			return fmt.Errorf("schema %s: required %q is not a property", path, r)
		}
	}
	for name, p := range s.Properties {
		if err := p.check(path + "." + name); err != nil {
			return err
		}
	}
	if s.AdditionalProperties != nil {
		if err := s.AdditionalProperties.check(path + ".*"); err != nil {
			return err
		}
	}
	if s.Items != nil {
		if err := s.Items.check(path + "[]"); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a decoded JSON value (maps, slices, float64, string, bool, nil) the way the
// API server does for a custom resource created with fieldValidation=Strict (kubectl's default):
// types, formats, required fields, enums and bounds, and every field the schema does not know is
// an error (the server would otherwise prune it silently). It returns every violation, sorted.
func (s *Schema) Validate(v any) []error {
	var errs []error
	s.validate("", v, &errs)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

func (s *Schema) validate(path string, v any, errs *[]error) {
	fail := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "<root>"
		}
		*errs = append(*errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if v == nil {
		if !s.Nullable {
			fail("must not be null")
		}
		return
	}
	if s.IntOrString {
		switch x := v.(type) {
		case string:
		case float64:
			if x != math.Trunc(x) {
				fail("must be an integer or a string, got %v", x)
			}
		default:
			fail("must be an integer or a string, got %T", v)
		}
		return
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("unsupported value %v, must be one of %v", v, s.Enum)
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("must be of type object, got %T", v)
			return
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				fail("required field %q is missing", r)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := join(path, k)
			switch p, ok := s.Properties[k]; {
			case ok:
				p.validate(child, m[k], errs)
			case s.AdditionalProperties != nil:
				s.AdditionalProperties.validate(child, m[k], errs)
			case s.PreserveUnknownFields:
			default:
				*errs = append(*errs, fmt.Errorf("%s: unknown field", child))
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("must be of type array, got %T", v)
			return
		}
		if s.MinItems != nil && int64(len(a)) < *s.MinItems {
			fail("must have at least %d items", *s.MinItems)
		}
		if s.MaxItems != nil && int64(len(a)) > *s.MaxItems {
			fail("must have at most %d items", *s.MaxItems)
		}
		for i, item := range a {
			s.Items.validate(fmt.Sprintf("%s[%d]", path, i), item, errs)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("must be of type string, got %T", v)
			return
		}
		if s.MinLength != nil && int64(len(str)) < *s.MinLength {
			fail("must be at least %d characters", *s.MinLength)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			fail("must be of type %s, got %T", s.Type, v)
			return
		}
		if s.Type == "integer" && n != math.Trunc(n) {
			fail("must be an integer, got %v", n)
		}
		if s.Format == "int32" && (n < math.MinInt32 || n > math.MaxInt32) {
			fail("%v overflows int32", n)
		}
		if s.Minimum != nil && n < *s.Minimum {
			fail("must be >= %v", *s.Minimum)
		}
		if s.Maximum != nil && n > *s.Maximum {
			fail("must be <= %v", *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("must be of type boolean, got %T", v)
		}
	case "":
		// preserve-unknown-fields without a type: anything goes.
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
