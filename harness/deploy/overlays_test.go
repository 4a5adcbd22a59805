package deploy

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// overlayWant is what each environment must differ in.
type overlayWant struct {
	dir           string
	namespace     string
	env           string // the service's effective ENV
	samplerArg    float64
	preDrain      time.Duration
	minReplicas   int32
	maxReplicas   int32
	modelProvider string // who serves the default model
}

var overlays = []overlayWant{
	{dir: "gitops/overlays/dev", namespace: "aiservice-dev", env: "development", samplerArg: 1, preDrain: 2 * time.Second, minReplicas: 1, maxReplicas: 2, modelProvider: "sim"},
	{dir: "gitops/overlays/production", namespace: "aiservice", env: "production", samplerArg: 0.1, preDrain: 5 * time.Second, minReplicas: 3, maxReplicas: 10, modelProvider: "openai"},
}

// TestOverlaysAgreeWithService renders each overlay and checks its pod against the shared
// rules and against the service's own configuration (workload_test.go), then checks what makes
// the environment what it is.
func TestOverlaysAgreeWithService(t *testing.T) {
	for _, want := range overlays {
		t.Run(want.dir, func(t *testing.T) {
			objs := mustRender(t, want.dir)
			w, _ := workloadFromManifests(t, want.dir, objs)
			cfg := checkWorkload(t, w)

			if cfg.Env != want.env {
				t.Errorf("effective ENV %q, want %q", cfg.Env, want.env)
			}
			if got := cfg.Shutdown.PreDrainDelay.D(); got != want.preDrain {
				t.Errorf("effective pre_drain_delay %v, want %v", got, want.preDrain)
			}
			arg, err := strconv.ParseFloat(w.env["OTEL_TRACES_SAMPLER_ARG"], 64)
			if err != nil || arg != want.samplerArg {
				t.Errorf("OTEL_TRACES_SAMPLER_ARG %q, want %v", w.env["OTEL_TRACES_SAMPLER_ARG"], want.samplerArg)
			}
			if w.env["OTEL_TRACES_SAMPLER"] != "parentbased_traceidratio" {
				t.Errorf("OTEL_TRACES_SAMPLER %q: the ratio only applies to a traceidratio sampler", w.env["OTEL_TRACES_SAMPLER"])
			}
			if cfg.Telemetry.OTLPEndpoint == "" {
				t.Error("no OTLP endpoint: traces would not be exported")
			}
			if got := defaultModelProvider(cfg); got != want.modelProvider {
				t.Errorf("the default models are served by %q, want %q", got, want.modelProvider)
			}

			ns := only[*corev1.Namespace](t, objs)
			if ns.Name != want.namespace {
				t.Errorf("namespace %q, want %q", ns.Name, want.namespace)
			}
			for _, o := range objs {
				if o.Kind != "Namespace" && o.Namespace != want.namespace {
					t.Errorf("%s is not in namespace %s", o, want.namespace)
				}
			}
			hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, objs)
			if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != want.minReplicas || hpa.Spec.MaxReplicas != want.maxReplicas {
				t.Errorf("HPA replicas %v..%d, want %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, want.minReplicas, want.maxReplicas)
			}
		})
	}
}

// defaultModelProvider is the provider of the first configured model.
func defaultModelProvider(cfg serviceConfig) string {
	if len(cfg.Models) == 0 {
		return ""
	}
	return cfg.Models[0].Provider
}

// TestOverlayObjectsFitTogether checks the references between the rendered objects, which
// no schema checks: selectors select the pods, the HPA scales the Deployment on CPU, the PDB
// leaves room to drain, ports and ServiceAccounts resolve.
func TestOverlayObjectsFitTogether(t *testing.T) {
	for _, want := range overlays {
		t.Run(want.dir, func(t *testing.T) {
			objs := mustRender(t, want.dir)
			d := only[*appsv1.Deployment](t, objs)
			pod := labels.Set(d.Spec.Template.Labels)

			// The API server rejects a Deployment whose selector does not match its template.
			sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
			if !sel.Matches(pod) || len(d.Spec.Selector.MatchExpressions) > 0 {
				t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector.MatchLabels, pod)
			}
			if d.Spec.Replicas != nil {
				t.Errorf("Deployment sets replicas=%d: every sync would fight the HPA", *d.Spec.Replicas)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Error("rolling update must keep maxUnavailable 0, so a rollout never lowers capacity")
			}

			svc := only[*corev1.Service](t, objs)
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) {
				t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod)
			}
			container := d.Spec.Template.Spec.Containers[0]
			for _, p := range svc.Spec.Ports {
				if !portResolves(container, p.TargetPort.String()) {
					t.Errorf("Service port %s targets %q, which is not a container port", p.Name, p.TargetPort.String())
				}
			}

			pdb := only[*policyv1.PodDisruptionBudget](t, objs)
			if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels) == 0 ||
				!labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(pod) {
				t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
			}
			// minAvailable >= minReplicas (or maxUnavailable 0) would block every node drain.
			switch {
			case pdb.Spec.MaxUnavailable != nil:
				if v := pdb.Spec.MaxUnavailable.String(); v == "0" || v == "0%" {
					t.Errorf("PDB maxUnavailable %s blocks node drains", v)
				}
			case pdb.Spec.MinAvailable != nil:
				if int32(pdb.Spec.MinAvailable.IntValue()) >= want.minReplicas {
					t.Errorf("PDB minAvailable %s >= minReplicas %d blocks node drains", pdb.Spec.MinAvailable.String(), want.minReplicas)
				}
			default:
				t.Error("PDB sets neither maxUnavailable nor minAvailable")
			}

			hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, objs)
			ref := hpa.Spec.ScaleTargetRef
			if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
				t.Errorf("HPA scales %s %s/%s, not the Deployment %s", ref.APIVersion, ref.Kind, ref.Name, d.Name)
			}
			cpu := false
			for _, m := range hpa.Spec.Metrics {
				if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
					m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
					cpu = true
					if u := *m.Resource.Target.AverageUtilization; u < 1 || u > 100 {
						t.Errorf("HPA CPU target %d%%", u)
					}
				}
			}
			if !cpu {
				t.Error("HPA does not scale on CPU utilization")
			}
			if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
				t.Errorf("HPA minReplicas %v > maxReplicas %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
			}

			sa := only[*corev1.ServiceAccount](t, objs)
			if d.Spec.Template.Spec.ServiceAccountName != sa.Name {
				t.Errorf("pod uses ServiceAccount %q, rendered is %q", d.Spec.Template.Spec.ServiceAccountName, sa.Name)
			}
		})
	}
}

func portResolves(c corev1.Container, target string) bool {
	for _, p := range c.Ports {
		if p.Name == target || strconv.Itoa(int(p.ContainerPort)) == target {
			return true
		}
	}
	return false
}

// TestWorkloadRulesRejectMistakes proves the shared pod rules and the comparison with the
// service's configuration bite: each case takes the production overlay's pod and makes one
// mistake.
func TestWorkloadRulesRejectMistakes(t *testing.T) {
	objs := mustRender(t, "gitops/overlays/production")
	tests := []struct {
		name   string
		mutate func(w *workload)
		want   string
	}{
		{"termination grace too short", func(w *workload) { w.tgps = 35 }, "terminationGracePeriodSeconds 35 <= pre_drain_delay 5s + grace_period 30s"},
		{"grace period raised in the config only", func(w *workload) {
			w.configFiles["config.yaml"] = strings.Replace(w.configFiles["config.yaml"], "grace_period: 30s", "grace_period: 60s", 1)
		}, "grace_period 1m0s"},
		{"misspelled env name", func(w *workload) { w.env["OTEL_TRACE_SAMPLER_ARG"] = "0.1" }, "env OTEL_TRACE_SAMPLER_ARG is not read by the service"},
		{"literal API key", func(w *workload) {
			delete(w.secretEnv, "OPENAI_API_KEY")
			w.env["OPENAI_API_KEY"] = "sk-live"
		}, "env OPENAI_API_KEY has a literal value"},
		{"container port differs from the service's", func(w *workload) { w.port = 9090 }, "service listens on port 8080, containerPort is 9090"},
		{"service on loopback only", func(w *workload) { w.env["AISERVICE_ADDR"] = "127.0.0.1:8080" }, "listens on 127.0.0.1 only"},
		{"config file not in the mounted volume", func(w *workload) { w.env["AISERVICE_CONFIG"] = "/etc/other/config.yaml" }, "not in the config volume"},
		{"config the service rejects", func(w *workload) { w.configFiles["config.yaml"] += "\nshutdwn: {}\n" }, "the service rejects the pod's configuration"},
		{"same path for both probes", func(w *workload) { w.readiness.path = w.liveness.path }, "liveness and readiness probe the same path"},
		{"probe on another port", func(w *workload) { w.liveness.port = "metrics" }, `liveness probe port "metrics"`},
		{"privilege escalation allowed", func(w *workload) { w.allowPrivEsc = nil }, "allowPrivilegeEscalation must be false"},
		{"writable root filesystem", func(w *workload) { w.readOnlyRoot = false }, "readOnlyRootFilesystem"},
		{"capabilities kept", func(w *workload) { w.dropCaps = nil }, "capabilities: drop [ALL]"},
		{"runs as root", func(w *workload) { w.podUser = 0 }, "non-zero runAsUser"},
		{"no memory limit", func(w *workload) { delete(w.limits, "memory") }, "memory request and limit"},
		{"latest image", func(w *workload) { w.image = "ghcr.io/example/aiservice:latest" }, "no pinned tag"},
		{"no pre-drain and no preStop", func(w *workload) { w.env["AISERVICE_SHUTDOWN_PRE_DRAIN_DELAY"] = "0s" }, "neither a pre-drain delay nor a preStop hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := workloadFromManifests(t, "production", objs)
			if _, v := workloadViolations(t, w); len(v) > 0 {
				t.Fatalf("the real pod already breaks rules: %v", v)
			}
			w.env, w.secretEnv, w.configFiles = cloneMap(w.env), maps.Clone(w.secretEnv), cloneMap(w.configFiles)
			w.requests, w.limits = maps.Clone(w.requests), maps.Clone(w.limits)
			tt.mutate(&w)
			_, v := workloadViolations(t, w)
			if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("violations %v do not include %q", v, tt.want)
			}
		})
	}
}
