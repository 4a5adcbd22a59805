package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSchemaValidate pins what kin-openapi, with the Kubernetes rules LoadSchema adds, says for
// each keyword, since the Argo CD checks rest on it.
func TestSchemaValidate(t *testing.T) {
	schema := `
type: object
required: [name]
properties:
  name: {type: string, minLength: 1}
  count: {type: integer, format: int32, minimum: 0}
  ratio: {type: number, maximum: 1}
  enabled: {type: boolean}
  mode: {type: string, enum: [fast, slow]}
  port: {x-kubernetes-int-or-string: true}
  tags: {type: array, maxItems: 2, items: {type: string}}
  labels: {type: object, additionalProperties: {type: string}}
  free: {type: object, x-kubernetes-preserve-unknown-fields: true}
  maybe: {type: string, nullable: true}
`
	s, err := LoadSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		want []string // one substring per expected error; none means valid
	}{
		{"valid", `{"name":"a","count":3,"ratio":0.5,"enabled":true,"mode":"fast","port":"http","tags":["x"],"labels":{"a":"b"},"free":{"any":{"thing":1}},"maybe":null}`, nil},
		{"int-or-string takes an integer", `{"name":"a","port":8080}`, nil},
		{"unknown field", `{"name":"a","nmae":"b"}`, []string{`<root>: property "nmae" is unsupported`}},
		{"unknown field deep in a list", `{"name":"a","tags":[{"x":1}]}`, []string{"tags.0: value must be a string"}},
		{"missing required", `{"count":1}`, []string{`name: property "name" is missing`}},
		{"wrong type", `{"name":"a","count":"3"}`, []string{"count: value must be an integer"}},
		{"fraction for an integer", `{"name":"a","count":1.5}`, []string{"count: value must be an integer"}},
		{"int32 overflow", `{"name":"a","count":4294967296}`, []string{`count: integer doesn't match the format "int32"`}},
		{"below minimum", `{"name":"a","count":-1}`, []string{"count: number must be at least 0"}},
		{"above maximum", `{"name":"a","ratio":2}`, []string{"ratio: number must be at most 1"}},
		{"not in enum", `{"name":"a","mode":"medium"}`, []string{"mode: value is not one of the allowed values"}},
		{"too many items", `{"name":"a","tags":["a","b","c"]}`, []string{"tags: maximum number of items is 2"}},
		{"too short", `{"name":""}`, []string{"name: minimum string length is 1"}},
		{"bad map value", `{"name":"a","labels":{"a":1}}`, []string{"labels.a: value must be a string"}},
		{"null where not nullable", `{"name":null}`, []string{"name: Value is not nullable"}},
		{"int-or-string rejects a bool", `{"name":"a","port":true}`, []string{`port: doesn't match any schema from "anyOf"`}},
		{"every error is reported", `{"nmae":"a","enabled":"yes"}`, []string{`name: property "name" is missing`, `property "nmae" is unsupported`, "enabled: value must be a boolean"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.doc), &v); err != nil {
				t.Fatal(err)
			}
			errs := s.Validate(v)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d %v", len(errs), errs, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, e := range errs {
					found = found || strings.Contains(e.Error(), w)
				}
				if !found {
					t.Errorf("no error contains %q: %v", w, errs)
				}
			}
		})
	}
}

// TestLoadSchemaIsStrict: a misspelled keyword in a schema file would silently disable a check,
// so loading one must fail.
func TestLoadSchemaIsStrict(t *testing.T) {
	tests := []struct {
		name, schema, wantErr string
	}{
		{"misspelled keyword", "type: object\npropertes: {a: {type: string}}", "extra sibling fields: [propertes]"},
		{"keyword in the wrong case", "type: object\nProperties: {a: {type: string}}", `Properties`},
		{"untyped node", "type: object\nproperties: {a: {description: x}}", "<root>.a: no type"},
		{"unknown type", "type: obj", `unsupported 'type' value "obj"`},
		{"array without items", "type: array", "schema 'items' must be non-null"},
		{"required names no property", "type: object\nrequired: [b]\nproperties: {a: {type: string}}", `required "b" is not a property`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSchema([]byte(tt.schema))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadSchema error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestArgoCDSchemaLoads checks the vendored Argo CD schema subset is a well-formed CRD for
// argoproj.io/v1alpha1 Application and types the fields gitops/argocd relies on.
func TestArgoCDSchemaLoads(t *testing.T) {
	s, err := loadCRDSchema("testdata/argocd-application-crd.yaml", "argoproj.io/v1alpha1", "Application")
	if err != nil {
		t.Fatal(err)
	}
	specRef := s.Root().Properties["spec"]
	if specRef == nil {
		t.Fatal("no spec in the schema")
	}
	spec := specRef.Value
	for _, path := range [][]string{
		{"project"}, {"source", "repoURL"}, {"source", "path"}, {"source", "targetRevision"},
		{"destination", "server"}, {"destination", "namespace"},
		{"syncPolicy", "automated", "prune"}, {"syncPolicy", "automated", "selfHeal"},
		{"syncPolicy", "syncOptions"}, {"syncPolicy", "retry", "limit"},
		{"syncPolicy", "retry", "backoff", "duration"}, {"syncPolicy", "retry", "backoff", "factor"},
		{"syncPolicy", "retry", "backoff", "maxDuration"},
	} {
		node := spec
		for _, p := range path {
			ref := node.Properties[p]
			if ref == nil {
				t.Errorf("schema has no spec.%s", strings.Join(path, "."))
				break
			}
			node = ref.Value
		}
	}
	if _, err := loadCRDSchema("testdata/argocd-application-crd.yaml", "argoproj.io/v1beta1", "Application"); err == nil {
		t.Error("a version the CRD does not serve was accepted")
	}
}
