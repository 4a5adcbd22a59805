package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestRenderEveryKustomization builds every kustomization under gitops/ with kustomize's own
// library and strictly decodes each object into its Go type (Argo CD's Application: its CRD
// schema). It also pins what each one must produce, so a resource dropped from a
// kustomization.yaml fails here.
func TestRenderEveryKustomization(t *testing.T) {
	workload := []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "ServiceAccount"}
	tests := []struct {
		dir   string
		kinds []string
	}{
		{"gitops/base", workload},
		{"gitops/overlays/dev", append([]string{"Namespace"}, workload...)},
		{"gitops/overlays/production", append([]string{"Namespace"}, workload...)},
		{"gitops/argocd", []string{"Application", "Application"}},
		{"gitops/flux", []string{"GitRepository", "Kustomization", "Kustomization"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			objs := mustRender(t, tt.dir)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Kind)
			}
			sort.Strings(kinds)
			want := slices.Clone(tt.kinds)
			sort.Strings(want)
			if !slices.Equal(kinds, want) {
				t.Errorf("kinds = %v, want %v", kinds, want)
			}
		})
	}
}

// TestEveryKustomizationIsTested guards the table above: a new directory under gitops/ with a
// kustomization.yaml must be added to it.
func TestEveryKustomizationIsTested(t *testing.T) {
	root := repoRoot(t)
	known := []string{"gitops/base", "gitops/overlays/dev", "gitops/overlays/production", "gitops/argocd", "gitops/flux"}
	var found []string
	err := filepath.WalkDir(filepath.Join(root, "gitops"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	sort.Strings(known)
	if !slices.Equal(found, known) {
		t.Errorf("kustomizations on disk = %v, tested = %v", found, known)
	}
}

// TestStrictValidationRejectsMistakes proves the checks above are strict: each case takes a
// real manifest, introduces one mistake a human makes (a misspelled field, a field in the
// wrong case, a wrong type, an unknown kind), renders it through kustomize like the real
// ones, and must fail naming the field.
func TestStrictValidationRejectsMistakes(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name    string
		file    string                    // a real manifest
		mutate  func(t *testing.T, m any) // the mistake
		wantErr string
	}{
		{
			name: "misspelled container field in the Deployment",
			file: "gitops/base/deployment.yaml",
			mutate: func(t *testing.T, m any) {
				c := dig(t, m, "spec", "template", "spec", "containers", 0).(map[string]any)
				c["readOnlyRootFilesytem"] = true
			},
			wantErr: `unknown field "spec.template.spec.containers[0].readOnlyRootFilesytem"`,
		},
		{
			name: "field in the wrong case in the Deployment",
			file: "gitops/base/deployment.yaml",
			mutate: func(t *testing.T, m any) {
				s := dig(t, m, "spec", "template", "spec").(map[string]any)
				s["TerminationGracePeriodSeconds"] = s["terminationGracePeriodSeconds"]
				delete(s, "terminationGracePeriodSeconds")
			},
			wantErr: `TerminationGracePeriodSeconds`,
		},
		{
			name: "wrong type in the HPA",
			file: "gitops/base/hpa.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec").(map[string]any)["maxReplicas"] = "six"
			},
			wantErr: `maxReplicas`,
		},
		{
			name: "misspelled field in the PodDisruptionBudget",
			file: "gitops/base/pdb.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec").(map[string]any)["maxUnavaliable"] = 1
			},
			wantErr: `unknown field "spec.maxUnavaliable"`,
		},
		{
			name: "misspelled field in a Flux Kustomization",
			file: "gitops/flux/kustomization-production.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec").(map[string]any)["healthCheck"] = []any{}
			},
			wantErr: `unknown field "spec.healthCheck"`,
		},
		{
			name: "invalid duration in a Flux Kustomization",
			file: "gitops/flux/kustomization-dev.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec").(map[string]any)["timeout"] = "five minutes"
			},
			wantErr: `five minutes`,
		},
		{
			name: "misspelled field in the Flux GitRepository",
			file: "gitops/flux/gitrepository.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec").(map[string]any)["branch"] = "main"
			},
			wantErr: `unknown field "spec.branch"`,
		},
		{
			name: "field in the wrong case in an Argo CD Application",
			file: "gitops/argocd/aiservice-production.yaml",
			mutate: func(t *testing.T, m any) {
				a := dig(t, m, "spec", "syncPolicy", "automated").(map[string]any)
				a["selfheal"] = a["selfHeal"]
				delete(a, "selfHeal")
			},
			wantErr: `spec.syncPolicy.automated: property "selfheal" is unsupported`,
		},
		{
			name: "wrong type in an Argo CD Application",
			file: "gitops/argocd/aiservice-dev.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "spec", "syncPolicy", "retry").(map[string]any)["limit"] = "5"
			},
			wantErr: `spec.syncPolicy.retry.limit: value must be an integer`,
		},
		{
			name: "missing required field in an Argo CD Application",
			file: "gitops/argocd/aiservice-dev.yaml",
			mutate: func(t *testing.T, m any) {
				delete(dig(t, m, "spec").(map[string]any), "project")
			},
			wantErr: `spec.project: property "project" is missing`,
		},
		{
			name: "unknown metadata field in an Argo CD Application",
			file: "gitops/argocd/aiservice-dev.yaml",
			mutate: func(t *testing.T, m any) {
				dig(t, m, "metadata").(map[string]any)["label"] = map[string]any{"a": "b"}
			},
			wantErr: `unknown field "label"`,
		},
		{
			name: "a kind nothing here can check",
			file: "gitops/base/service.yaml",
			mutate: func(t *testing.T, m any) {
				m.(map[string]any)["apiVersion"] = "monitoring.coreos.com/v1"
				m.(map[string]any)["kind"] = "ServiceMonitor"
			},
			wantErr: `no Go type or schema known for monitoring.coreos.com/v1/ServiceMonitor`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := any(yamlFileToJSON(t, filepath.Join(root, tt.file)))
			// Unmutated, the same pipeline accepts it: the failure below is the mistake's.
			dir := writeKustomization(t, m)
			if _, err := render(dir); err != nil {
				t.Fatalf("the real manifest does not validate: %v", err)
			}
			tt.mutate(t, m)
			_, err := render(writeKustomization(t, m))
			if err == nil {
				t.Fatalf("validation accepted the mistake")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error does not name the mistake %q:\n%v", tt.wantErr, err)
			}
			t.Logf("rejected as expected: %v", err)
		})
	}
}

// writeKustomization writes one object and a kustomization.yaml listing it into a new
// directory.
func writeKustomization(t *testing.T, obj any) string {
	t.Helper()
	dir := t.TempDir()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"object.yaml":        b,
		"kustomization.yaml": []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [object.yaml]\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dig walks maps by key and slices by index.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("dig %v: %q: not a map", path, k)
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("dig %v: [%d]: not a list that long", path, k)
			}
			v = s[k]
		}
	}
	if v == nil {
		t.Fatalf("dig %v: nothing there", path)
	}
	return v
}
