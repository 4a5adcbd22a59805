package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one rendered manifest, decoded strictly into its Go type (Typed) or, for Argo CD's
// Application, validated against its CRD schema (Typed is then an *argoApplication).
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	JSON       []byte
	Typed      any
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

// typedKinds maps apiVersion/kind to the Go type the cluster decodes it into. A kind missing
// here fails the render: nothing reaches a cluster unchecked.
var typedKinds = map[string]func() any{
	"v1/Namespace":       func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":  func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":       func() any { return &corev1.ConfigMap{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any {
		return &autoscalingv2.HorizontalPodAutoscaler{}
	},
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	kustomizev1.GroupVersion.String() + "/" + kustomizev1.KustomizationKind: func() any {
		return &kustomizev1.Kustomization{}
	},
	sourcev1.GroupVersion.String() + "/" + sourcev1.GitRepositoryKind: func() any {
		return &sourcev1.GitRepository{}
	},
}

// decodeStrict decodes JSON the way the API server does with fieldValidation=Strict: field
// names are case-sensitive, and unknown or duplicate fields are errors.
func decodeStrict(data []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(data, into)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if len(strict) > 0 {
		return fmt.Errorf("strict decoding: %w", errors.Join(strict...))
	}
	return nil
}

// validateObject strictly decodes one manifest into its real type.
func validateObject(data []byte) (object, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return object{}, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	o := object{APIVersion: meta.APIVersion, Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, JSON: data}
	if o.Name == "" {
		return o, fmt.Errorf("%s: metadata.name is required", o)
	}
	key := meta.APIVersion + "/" + meta.Kind
	if key == argoApplicationKey {
		app, err := validateArgoApplication(data)
		if err != nil {
			return o, fmt.Errorf("%s: %w", o, err)
		}
		o.Typed = app
		return o, nil
	}
	newTyped, ok := typedKinds[key]
	if !ok {
		return o, fmt.Errorf("%s: no Go type or schema known for %s: add one to typedKinds", o, key)
	}
	o.Typed = newTyped()
	if err := decodeStrict(data, o.Typed); err != nil {
		return o, fmt.Errorf("%s: %w", o, err)
	}
	return o, nil
}

// render runs kustomize in-process (as kubectl, Argo CD and Flux do) on dir and validates
// every object it produces.
func render(dir string) ([]object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []object
	var errs []error
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		o, err := validateObject(data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, errors.Join(errs...))
	}
	return objs, nil
}

// renderCache memoizes mustRender: several tests read the same overlay.
var renderCache sync.Map

// mustRender renders a directory of the repository (relative to its root).
func mustRender(t testing.TB, rel string) []object {
	t.Helper()
	if v, ok := renderCache.Load(rel); ok {
		return v.([]object)
	}
	objs, err := render(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	renderCache.Store(rel, objs)
	return objs
}

// only returns the single object of type T, failing unless there is exactly one.
func only[T any](t testing.TB, objs []object) T {
	t.Helper()
	all := all[T](objs)
	if len(all) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(all))
	}
	return all[0]
}

// all returns every object of type T.
func all[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Typed.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// yamlFileToJSON reads a one-document YAML file as JSON (for the negative tests, which mutate
// real files).
func yamlFileToJSON(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}
