package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const argoApplicationKey = "argoproj.io/v1alpha1/Application"

// argoApplication mirrors the fields of the schema subset in testdata that the policy tests
// read. The schema, not this struct, is what decides validity.
type argoApplication struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Project string `json:"project"`
		Source  struct {
			RepoURL        string `json:"repoURL"`
			Path           string `json:"path"`
			TargetRevision string `json:"targetRevision"`
		} `json:"source"`
		Destination struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy struct {
			Automated *struct {
				Prune    bool `json:"prune"`
				SelfHeal bool `json:"selfHeal"`
			} `json:"automated"`
			SyncOptions []string `json:"syncOptions"`
			Retry       *struct {
				Limit   int64 `json:"limit"`
				Backoff *struct {
					Duration    string `json:"duration"`
					Factor      int64  `json:"factor"`
					MaxDuration string `json:"maxDuration"`
				} `json:"backoff"`
			} `json:"retry"`
		} `json:"syncPolicy"`
	} `json:"spec"`
}

type crdFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind   string `json:"kind"`
			Plural string `json:"plural"`
		} `json:"names"`
		Scope    string `json:"scope"`
		Versions []struct {
			Name    string `json:"name"`
			Served  bool   `json:"served"`
			Storage bool   `json:"storage"`
			Schema  struct {
				OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

var (
	argoSchemaOnce sync.Once
	argoSchema     *Schema
	argoSchemaErr  error
)

// loadCRDSchema reads the openAPIV3Schema of one served version of a CRD file.
func loadCRDSchema(path, apiVersion, kind string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crd: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("crd %s: %w", path, err)
	}
	var crd crdFile
	if err := decodeStrict(j, &crd); err != nil {
		return nil, fmt.Errorf("crd %s: %w", path, err)
	}
	group, version, _ := strings.Cut(apiVersion, "/")
	if crd.Spec.Group != group || crd.Spec.Names.Kind != kind {
		return nil, fmt.Errorf("crd %s is for %s/%s, not %s %s", path, crd.Spec.Group, crd.Spec.Names.Kind, apiVersion, kind)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Served {
			return LoadSchema(v.Schema.OpenAPIV3Schema)
		}
	}
	return nil, fmt.Errorf("crd %s serves no version %s", path, version)
}

// validateArgoApplication validates an Application as the API server would with the Argo CD
// CRD installed: the spec against the CRD schema, metadata as a strict ObjectMeta.
func validateArgoApplication(data []byte) (*argoApplication, error) {
	argoSchemaOnce.Do(func() {
		argoSchema, argoSchemaErr = loadCRDSchema("testdata/argocd-application-crd.yaml", "argoproj.io/v1alpha1", "Application")
	})
	if argoSchemaErr != nil {
		return nil, argoSchemaErr
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if errs := argoSchema.Validate(v); len(errs) > 0 {
		return nil, fmt.Errorf("schema: %w", errors.Join(errs...))
	}
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := decodeStrict(meta.Metadata, &metav1.ObjectMeta{}); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var app argoApplication
	if err := json.Unmarshal(data, &app); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &app, nil
}
