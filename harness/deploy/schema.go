// Package deploy checks the deployment-as-code of aiservice offline: the Dockerfile, the
// Kustomize base and overlays, the Argo CD and Flux objects and the Terraform module, strictly
// decoded into their real types (or validated against a CRD schema) and checked against the
// service's own configuration, read from the built binary.
//
// This file holds the one piece that is not a test: loading the structural OpenAPI v3 schema
// of a CustomResourceDefinition (for Argo CD's Application, whose Go module is too heavy to
// import here) into kin-openapi, which validates documents against it.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"sigs.k8s.io/yaml"
)

// Schema is a CRD's openAPIV3Schema, checked and ready to validate documents with kin-openapi.
type Schema struct{ root *openapi3.Schema }

// Root is the schema as kin-openapi holds it.
func (s *Schema) Root() *openapi3.Schema { return s.root }

// LoadSchema reads a schema from YAML (or JSON). kin-openapi rejects keywords it does not know
// (a misspelled or mis-cased keyword would otherwise silently switch a check off); the
// structural rules Kubernetes adds are checked here, and its extensions are rewritten into what
// kin-openapi validates: x-kubernetes-int-or-string becomes anyOf integer|string, and an object
// that does not preserve unknown fields rejects them, as the API server does under strict field
// validation (kubectl's default) instead of pruning them silently.
func LoadSchema(b []byte) (*Schema, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var root openapi3.Schema
	if err := json.Unmarshal(j, &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := root.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := structural(&root, "<root>"); err != nil {
		return nil, err
	}
	kubernetes(&root)
	return &Schema{root: &root}, nil
}

func flag(s *openapi3.Schema, ext string) bool { v, _ := s.Extensions[ext].(bool); return v }

// structural checks what a structural schema must be and Validate relies on: every node says
// its type (or is int-or-string / preserves unknown fields), and required names a property.
func structural(s *openapi3.Schema, path string) error {
	intOrString, preserve := flag(s, "x-kubernetes-int-or-string"), flag(s, "x-kubernetes-preserve-unknown-fields")
	types := s.Type.Slice()
	if len(types) == 0 && !intOrString && !preserve {
		return fmt.Errorf("schema %s: no type (a structural schema types every node)", path)
	}
	for _, t := range types {
		if !slices.Contains([]string{"object", "array", "string", "integer", "number", "boolean"}, t) {
			return fmt.Errorf("schema %s: unknown type %q", path, t)
		}
	}
	if s.Type.Is("array") && s.Items == nil {
		return fmt.Errorf("schema %s: array without items", path)
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			return fmt.Errorf("schema %s: required %q is not a property", path, r)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		if err := structural(s.Properties[name].Value, path+"."+name); err != nil {
			return err
		}
	}
	if ap := s.AdditionalProperties.Schema; ap != nil {
		if err := structural(ap.Value, path+".*"); err != nil {
			return err
		}
	}
	if s.Items != nil {
		return structural(s.Items.Value, path+"[]")
	}
	return nil
}

func kubernetes(s *openapi3.Schema) {
	if flag(s, "x-kubernetes-int-or-string") {
		s.Type = nil
		s.AnyOf = openapi3.SchemaRefs{openapi3.NewIntegerSchema().NewRef(), openapi3.NewStringSchema().NewRef()}
	}
	if s.Type.Is("object") && !flag(s, "x-kubernetes-preserve-unknown-fields") && s.AdditionalProperties.Schema == nil {
		s.AdditionalProperties.Has = openapi3.Ptr(false)
	}
	for _, p := range s.Properties {
		kubernetes(p.Value)
	}
	if ap := s.AdditionalProperties.Schema; ap != nil {
		kubernetes(ap.Value)
	}
	if s.Items != nil {
		kubernetes(s.Items.Value)
	}
}

// Validate checks a decoded JSON value (maps, slices, float64, string, bool, nil) and returns
// every violation as "path: reason", sorted.
func (s *Schema) Validate(v any) []error {
	err := s.root.VisitJSON(v, openapi3.MultiErrors())
	if err == nil {
		return nil
	}
	var out []error
	var walk func(error)
	walk = func(err error) {
		var multi openapi3.MultiError
		var se *openapi3.SchemaError
		switch {
		case errors.As(err, &multi):
			for _, e := range multi {
				walk(e)
			}
		case errors.As(err, &se):
			path := strings.Join(se.JSONPointer(), ".")
			if path == "" {
				path = "<root>"
			}
			out = append(out, fmt.Errorf("%s: %s", path, se.Reason))
		default:
			out = append(out, err)
		}
	}
	walk(err)
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return out
}
