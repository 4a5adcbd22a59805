package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// overlayFacts is what a GitOps object must point at: the overlay's namespace and Deployment.
type overlayFacts struct {
	namespace  string
	deployment string
	tgps       time.Duration
}

// overlayAt renders the overlay a GitOps object names by its path in the repository.
func overlayAt(t *testing.T, rel string) overlayFacts {
	t.Helper()
	rel = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(rel)), "./")
	if !slices.ContainsFunc(overlays, func(o overlayWant) bool { return o.dir == rel }) {
		t.Fatalf("path %q is not one of the overlays %v", rel, overlays)
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), rel, "kustomization.yaml")); err != nil {
		t.Fatalf("path %q: %v", rel, err)
	}
	objs := mustRender(t, rel)
	d := only[*appsv1.Deployment](t, objs)
	return overlayFacts{
		namespace:  only[*corev1.Namespace](t, objs).Name,
		deployment: d.Name,
		tgps:       time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second,
	}
}

// TestArgoCDApplications checks each Application deploys one overlay into that overlay's
// namespace and keeps it in sync automatically.
func TestArgoCDApplications(t *testing.T) {
	apps := all[*argoApplication](mustRender(t, "gitops/argocd"))
	flux := only[*sourcev1.GitRepository](t, mustRender(t, "gitops/flux"))
	covered := map[string]bool{}
	for _, app := range apps {
		t.Run(app.Metadata.Name, func(t *testing.T) {
			s := app.Spec
			o := overlayAt(t, s.Source.Path)
			covered[filepath.Clean(s.Source.Path)] = true
			if s.Destination.Namespace != o.namespace {
				t.Errorf("destination namespace %q, the overlay deploys into %q", s.Destination.Namespace, o.namespace)
			}
			if s.Destination.Server == "" {
				t.Error("no destination server")
			}
			if s.Source.RepoURL != flux.Spec.URL {
				t.Errorf("repoURL %q differs from the Flux GitRepository's %q: one repository, one URL", s.Source.RepoURL, flux.Spec.URL)
			}
			if s.Source.TargetRevision == "" || s.Source.TargetRevision == "HEAD" {
				t.Errorf("targetRevision %q: name the branch or tag", s.Source.TargetRevision)
			}
			a := s.SyncPolicy.Automated
			if a == nil || !a.Prune || !a.SelfHeal {
				t.Errorf("syncPolicy.automated must prune and selfHeal, got %+v", a)
			}
			if !slices.Contains(s.SyncPolicy.SyncOptions, "CreateNamespace=true") {
				t.Errorf("syncOptions %v lack CreateNamespace=true", s.SyncPolicy.SyncOptions)
			}
			r := s.SyncPolicy.Retry
			if r == nil || r.Limit < 1 || r.Backoff == nil {
				t.Fatalf("syncPolicy.retry must retry with a backoff, got %+v", r)
			}
			base, err1 := time.ParseDuration(r.Backoff.Duration)
			maxD, err2 := time.ParseDuration(r.Backoff.MaxDuration)
			if err1 != nil || err2 != nil || base <= 0 || maxD < base || r.Backoff.Factor < 2 {
				t.Errorf("retry backoff %+v: want durations, maxDuration >= duration, factor >= 2", *r.Backoff)
			}
		})
	}
	for _, o := range overlays {
		if !covered[o.dir] {
			t.Errorf("no Argo CD Application deploys %s", o.dir)
		}
	}
}

// TestFluxKustomizations checks each Flux Kustomization applies one overlay from the
// GitRepository, prunes, and gates readiness on the overlay's Deployment.
func TestFluxKustomizations(t *testing.T) {
	objs := mustRender(t, "gitops/flux")
	repo := only[*sourcev1.GitRepository](t, objs)
	if repo.Spec.Reference == nil || repo.Spec.Reference.Branch == "" && repo.Spec.Reference.Tag == "" && repo.Spec.Reference.SemVer == "" && repo.Spec.Reference.Commit == "" {
		t.Error("GitRepository has no ref")
	}
	if repo.Spec.Interval.Duration <= 0 {
		t.Error("GitRepository has no interval")
	}
	covered := map[string]bool{}
	for _, k := range all[*kustomizev1.Kustomization](objs) {
		t.Run(k.Name, func(t *testing.T) {
			s := k.Spec
			o := overlayAt(t, s.Path)
			covered[filepath.Clean(strings.TrimPrefix(s.Path, "./"))] = true
			if s.SourceRef.Kind != sourcev1.GitRepositoryKind || s.SourceRef.Name != repo.Name ||
				(s.SourceRef.Namespace != "" && s.SourceRef.Namespace != repo.Namespace) || k.Namespace != repo.Namespace {
				t.Errorf("sourceRef %+v does not name the GitRepository %s/%s", s.SourceRef, repo.Namespace, repo.Name)
			}
			if !s.Prune {
				t.Error("prune must be true, or objects removed from git stay in the cluster")
			}
			if s.Interval.Duration <= 0 {
				t.Error("no interval")
			}
			// Flux ignores healthChecks when wait is true: setting both reads as a check that
			// is not made.
			if s.Wait && len(s.HealthChecks) > 0 {
				t.Error("wait: true makes Flux ignore healthChecks; use one or the other")
			}
			gated := s.Wait
			for _, h := range s.HealthChecks {
				if h.Kind == "Deployment" && h.Name == o.deployment && h.Namespace == o.namespace && (h.APIVersion == "" || h.APIVersion == "apps/v1") {
					gated = true
				}
			}
			if !gated {
				t.Errorf("readiness is not gated on Deployment %s/%s (healthChecks %+v)", o.namespace, o.deployment, s.HealthChecks)
			}
			// A rollout replaces pods that each take up to terminationGracePeriodSeconds to go.
			if s.Timeout == nil || s.Timeout.Duration <= o.tgps {
				t.Errorf("timeout %v must exceed the pod termination grace %v", s.Timeout, o.tgps)
			}
			if s.TargetNamespace != "" && s.TargetNamespace != o.namespace {
				t.Errorf("targetNamespace %q differs from the overlay's %q", s.TargetNamespace, o.namespace)
			}
		})
	}
	for _, o := range overlays {
		if !covered[o.dir] {
			t.Errorf("no Flux Kustomization applies %s", o.dir)
		}
	}
}
