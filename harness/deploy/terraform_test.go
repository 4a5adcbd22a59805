package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// tfProviderEnv names the directory holding the terraform-provider-kubernetes binary that
// .ci/terraform-provider.sh builds; the Taskfile's test:deploy sets it.
const tfProviderEnv = "AISERVICE_TF_PROVIDER_DIR"

// terraform runs the terraform CLI on a copy of terraform/ (and the production config.yaml it
// reads), with its own CLI config and data dir: nothing is written into the repository, no
// terraform.tfvars of a developer is picked up, and nothing is fetched from a registry.
type terraform struct {
	bin string
	dir string // the copy of terraform/
	env []string
}

func newTerraform(t *testing.T, withProvider bool) *terraform {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skipf("terraform not on PATH (%v) — it is not a Go tool: install it from https://developer.hashicorp.com/terraform/install (1.5 or later)", err)
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "terraform")
	copyFiles(t, filepath.Join(root, "terraform"), dir, func(name string) bool { return strings.HasSuffix(name, ".tf") })
	copyFiles(t, filepath.Join(root, "gitops", "overlays", "production"), filepath.Join(tmp, "gitops", "overlays", "production"), func(name string) bool { return name == "config.yaml" })

	cli := ""
	if withProvider {
		pdir := os.Getenv(tfProviderEnv)
		if pdir == "" {
			t.Skipf("%s is not set: run `go tool task test:deploy`, or .ci/terraform-provider.sh and export %s=$(.ci/terraform-provider.sh --print-dir)", tfProviderEnv, tfProviderEnv)
		}
		if fi, err := os.Stat(filepath.Join(pdir, "terraform-provider-kubernetes")); err != nil || fi.Mode()&0o111 == 0 {
			t.Skipf("%s=%s holds no terraform-provider-kubernetes binary: run .ci/terraform-provider.sh", tfProviderEnv, pdir)
		}
		// dev_overrides: Terraform loads the provider from pdir without `terraform init`.
		cli = fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"hashicorp/kubernetes\" = %q\n  }\n  direct {}\n}\n", pdir)
	}
	cliFile := filepath.Join(tmp, "terraform.rc")
	writeFile(t, cliFile, cli)
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return &terraform{bin: bin, dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		// Always our own: the machine's TF_CLI_CONFIG_FILE points at a file that does not exist.
		"TF_CLI_CONFIG_FILE=" + cliFile,
		"TF_DATA_DIR=" + filepath.Join(tmp, "tfdata"),
		// No version check call to HashiCorp.
		"CHECKPOINT_DISABLE=1",
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
	}}
}

func (tf *terraform) run(args ...string) (stdout string, err error) {
	cmd := exec.Command(tf.bin, args...)
	cmd.Dir = tf.dir
	cmd.Env = tf.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("terraform %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// edit replaces old with new in a file of the copy, failing if old is not there.
func (tf *terraform) edit(t *testing.T, file, old, new string) {
	t.Helper()
	p := filepath.Join(tf.dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	writeFile(t, p, strings.Replace(string(b), old, new, 1))
}

// TestTerraformFmt runs `terraform fmt -check` over the module and the example variables file,
// and proves the check bites on a misformatted file.
func TestTerraformFmt(t *testing.T) {
	root := repoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, "terraform", "terraform.tfvars.example"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(t *testing.T, tf *terraform)
		wantOK bool
	}{
		{"module and example as written", func(t *testing.T, tf *terraform) {
			// fmt only reads *.tf and *.tfvars: check the example under that name.
			writeFile(t, filepath.Join(tf.dir, "example.auto.tfvars"), string(example))
		}, true},
		{"a misaligned argument fails", func(t *testing.T, tf *terraform) {
			tf.edit(t, "main.tf", "  port        = 8080", "  port = 8080")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTerraform(t, false)
			tt.edit(t, tf)
			out, err := tf.run("fmt", "-check", "-diff", "-recursive", "-no-color", ".")
			if tt.wantOK && err != nil {
				t.Errorf("terraform fmt -check: %v", err)
			}
			if !tt.wantOK && err == nil {
				t.Errorf("terraform fmt -check accepted a misformatted file:\n%s", out)
			}
		})
	}
}

// TestTerraformValidate runs `terraform validate` with the real Kubernetes provider's schema,
// and proves it rejects what the provider would (so a pass means something).
func TestTerraformValidate(t *testing.T) {
	tests := []struct {
		name          string
		file, old, nw string
		wantErr       string
	}{
		{name: "as written"},
		{"misspelled attribute", "main.tf", "read_only_root_filesystem  = true", "read_only_root_filesytem  = true", "Unsupported argument"},
		{"unknown resource type", "main.tf", `resource "kubernetes_pod_disruption_budget_v1"`, `resource "kubernetes_pod_disruption_budgets_v1"`, "Invalid resource type"},
		{"block where an attribute belongs", "main.tf", "drop = [\"ALL\"]", "drop { name = \"ALL\" }", "Unsupported block type"},
		{"reference to an undeclared variable", "main.tf", "var.cpu_target_utilization", "var.cpu_target", "Reference to undeclared input variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTerraform(t, true)
			if tt.file != "" {
				tf.edit(t, tt.file, tt.old, tt.nw)
			}
			out, err := tf.run("validate", "-no-color")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("validate accepted the mistake:\n%s", out)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("validate error does not say %q:\n%v", tt.wantErr, err)
			}
		})
	}
}

// plan runs an offline `terraform plan` (the provider is configured with a kubeconfig whose
// server is a closed loopback port; planning creations contacts no cluster) and returns the
// planned values as JSON.
func (tf *terraform) plan(t *testing.T, args ...string) (*tfPlan, error) {
	t.Helper()
	kubeconfig := filepath.Join(filepath.Dir(tf.dir), "kubeconfig")
	writeFile(t, kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
`)
	planFile := filepath.Join(filepath.Dir(tf.dir), "plan.bin")
	// Variables after -var-file win: point the provider at the offline kubeconfig.
	all := append([]string{"plan", "-no-color", "-input=false", "-refresh=false", "-lock=false", "-out=" + planFile}, args...)
	all = append(all, "-var=kubeconfig_path="+kubeconfig, "-var=kube_context=offline")
	if _, err := tf.run(all...); err != nil {
		return nil, err
	}
	out, err := tf.run("show", "-json", planFile)
	if err != nil {
		return nil, err
	}
	var p tfPlan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, fmt.Errorf("plan JSON: %w", err)
	}
	return &p, nil
}

// TestTerraformPlanAgreesWithService plans the module offline with its defaults and with
// terraform.tfvars.example, holds the planned pod to the same rules and service configuration
// checks as the manifests, and checks it is the production overlay's pod: same probes, port,
// shutdown timing, security context, resources, autoscaling and disruption budget.
func TestTerraformPlanAgreesWithService(t *testing.T) {
	root := repoRoot(t)
	prodObjs := mustRender(t, "gitops/overlays/production")
	prod, _ := workloadFromManifests(t, "gitops/overlays/production", prodObjs)
	prodCfg := checkServiceConfig(t, prod)

	tests := []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"terraform.tfvars.example", []string{"-var-file=" + filepath.Join(root, "terraform", "terraform.tfvars.example")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTerraform(t, true)
			p, err := tf.plan(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			w := p.workload(t, "terraform ("+tt.name+")")
			cfg := checkWorkload(t, w)

			if out := p.PlannedValues.Outputs["termination_grace_period_seconds"].Value; fmt.Sprint(out) != strconv.FormatInt(w.tgps, 10) {
				t.Errorf("output termination_grace_period_seconds = %v, the pod has %d", out, w.tgps)
			}

			// The same pod as the production overlay.
			if got, want := summarize(w), summarize(prod); !reflect.DeepEqual(got, want) {
				t.Errorf("terraform and the production overlay differ:\n terraform: %+v\n overlay:   %+v", got, want)
			}
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"ENV", cfg.Env, prodCfg.Env},
				{"shutdown", cfg.Shutdown, prodCfg.Shutdown},
				{"log_level", cfg.LogLevel, prodCfg.LogLevel},
				{"models", cfg.Models, prodCfg.Models},
				{"otlp_endpoint", cfg.Telemetry.OTLPEndpoint, prodCfg.Telemetry.OTLPEndpoint},
				{"OTEL_TRACES_SAMPLER", w.env["OTEL_TRACES_SAMPLER"], prod.env["OTEL_TRACES_SAMPLER"]},
				{"OTEL_TRACES_SAMPLER_ARG", w.env["OTEL_TRACES_SAMPLER_ARG"], prod.env["OTEL_TRACES_SAMPLER_ARG"]},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s: terraform %v, production overlay %v", f.name, f.got, f.want)
				}
			}

			hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, prodObjs)
			th := p.hpa(t)
			if th.min != *hpa.Spec.MinReplicas || th.max != hpa.Spec.MaxReplicas || th.cpu != *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization || th.target != p.deploymentName(t) {
				t.Errorf("HPA: terraform %+v, overlay %d..%d at %d%% CPU", th, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization)
			}
			pdb := only[*policyv1.PodDisruptionBudget](t, prodObjs)
			if got := p.pdbMaxUnavailable(t); got != pdb.Spec.MaxUnavailable.String() {
				t.Errorf("PDB maxUnavailable: terraform %q, overlay %q", got, pdb.Spec.MaxUnavailable.String())
			}
			svc := only[*corev1.Service](t, prodObjs)
			if port, target := p.servicePort(t); port != svc.Spec.Ports[0].Port || target != svc.Spec.Ports[0].TargetPort.String() {
				t.Errorf("Service port: terraform %d->%s, overlay %d->%s", port, target, svc.Spec.Ports[0].Port, svc.Spec.Ports[0].TargetPort.String())
			}
			d := only[*appsv1.Deployment](t, prodObjs)
			if got := p.maxUnavailable(t); got != d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() {
				t.Errorf("rolling update maxUnavailable: terraform %q, overlay %q", got, d.Spec.Strategy.RollingUpdate.MaxUnavailable.String())
			}
		})
	}
}

// TestTerraformTraceSamplingPerEnvironment: without trace_sampler_arg, each environment gets
// the sampling of its gitops overlay (every trace in development, 10 % in production), and an
// explicit value wins in either.
func TestTerraformTraceSamplingPerEnvironment(t *testing.T) {
	overlay := func(rel string) string {
		w, _ := workloadFromManifests(t, rel, mustRender(t, rel))
		return w.env["OTEL_TRACES_SAMPLER_ARG"]
	}
	dev, prod := overlay("gitops/overlays/dev"), overlay("gitops/overlays/production")
	tests := []struct {
		name string
		args []string
		want string // OTEL_TRACES_SAMPLER_ARG, compared as a number
	}{
		{"development", []string{"-var=environment=development"}, dev},
		{"production", []string{"-var=environment=production"}, prod},
		{"development, explicit", []string{"-var=environment=development", "-var=trace_sampler_arg=0.25"}, "0.25"},
		{"production, explicit 0", []string{"-var=environment=production", "-var=trace_sampler_arg=0"}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTerraform(t, true)
			p, err := tf.plan(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := p.workload(t, "terraform ("+tt.name+")").env["OTEL_TRACES_SAMPLER_ARG"]
			g, gerr := strconv.ParseFloat(got, 64)
			w, werr := strconv.ParseFloat(tt.want, 64)
			if gerr != nil || werr != nil || g != w {
				t.Errorf("OTEL_TRACES_SAMPLER_ARG = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTerraformRejectsBadVariables: the variable validations and preconditions stop a bad
// deployment at plan time.
func TestTerraformRejectsBadVariables(t *testing.T) {
	tests := []struct {
		name    string
		vars    []string
		wantErr string
	}{
		{"latest image", []string{"-var=image=ghcr.io/example/aiservice:latest"}, "explicit tag or digest"},
		{"untagged image", []string{"-var=image=ghcr.io/example/aiservice"}, "explicit tag or digest"},
		{"unknown environment", []string{"-var=environment=staging"}, "development or production"},
		{"negative pre-drain delay", []string{"-var=shutdown_pre_drain_delay_seconds=-1"}, "shutdown_pre_drain_delay_seconds"},
		{"fractional grace period", []string{"-var=shutdown_grace_period_seconds=2.5"}, "shutdown_grace_period_seconds"},
		{"no termination margin", []string{"-var=termination_margin_seconds=0"}, "SIGKILL"},
		{"min above max replicas", []string{"-var=min_replicas=5", "-var=max_replicas=2"}, "max_replicas must be >= min_replicas"},
		{"cpu target above 100", []string{"-var=cpu_target_utilization=150"}, "cpu_target_utilization"},
		{"unknown log level", []string{"-var=log_level=verbose"}, "log_level"},
		{"sampling ratio above 1", []string{"-var=trace_sampler_arg=1.5"}, "trace_sampler_arg must be between 0 and 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTerraform(t, true)
			_, err := tf.plan(t, tt.vars...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("plan error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// podSummary is what must be equal between Terraform and the production overlay.
type podSummary struct {
	PortName                           string
	Port                               int32
	Liveness, Readiness                probe
	TGPS                               int64
	EnvNames                           []string // literal env except the shutdown timing, which Kustomize sets in the config file
	SecretEnv                          map[string]secretRef
	PodNonRoot                         bool
	PodUser                            int64
	PodSeccomp, Seccomp                string
	AllowPrivEsc, Privileged, ReadOnly bool
	NonRoot                            bool
	DropCaps                           []string
	Requests, Limits                   map[string]string
	Annotations                        map[string]string
	ConfigMount                        string
	ConfigFiles                        []string
	Args                               []string
}

func summarize(w workload) podSummary {
	canon := func(m map[string]resource.Quantity) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v.String()
		}
		return out
	}
	var names []string
	for _, n := range sortedKeys(w.env) {
		if !strings.HasPrefix(n, "AISERVICE_SHUTDOWN_") {
			names = append(names, n)
		}
	}
	ann := map[string]string{}
	for k, v := range w.annotations {
		if strings.HasPrefix(k, "prometheus.io/") {
			ann[k] = v
		}
	}
	return podSummary{
		PortName: w.portName, Port: w.port, Liveness: w.liveness, Readiness: w.readiness, TGPS: w.tgps,
		EnvNames: names, SecretEnv: w.secretEnv,
		PodNonRoot: w.podNonRoot, PodUser: w.podUser, PodSeccomp: w.podSeccomp, Seccomp: w.seccomp,
		AllowPrivEsc: w.allowPrivEsc != nil && *w.allowPrivEsc, Privileged: w.privileged, ReadOnly: w.readOnlyRoot,
		NonRoot: w.nonRoot, DropCaps: w.dropCaps, Requests: canon(w.requests), Limits: canon(w.limits),
		Annotations: ann, ConfigMount: w.configMount, ConfigFiles: sortedKeys(w.configFiles), Args: w.args,
	}
}

// --- terraform show -json, the parts read here ------------------------------------------

type tfPlan struct {
	PlannedValues struct {
		Outputs map[string]struct {
			Value any `json:"value"`
		} `json:"outputs"`
		RootModule struct {
			Resources []struct {
				Type   string          `json:"type"`
				Name   string          `json:"name"`
				Values json.RawMessage `json:"values"`
			} `json:"resources"`
		} `json:"root_module"`
	} `json:"planned_values"`
}

// resource decodes the planned values of the one resource of a type.
func (p *tfPlan) resource(t testing.TB, typ string, into any) {
	t.Helper()
	var found []json.RawMessage
	for _, r := range p.PlannedValues.RootModule.Resources {
		if r.Type == typ {
			found = append(found, r.Values)
		}
	}
	if len(found) != 1 {
		t.Fatalf("plan: want one %s, got %d", typ, len(found))
	}
	if err := json.Unmarshal(found[0], into); err != nil {
		t.Fatalf("plan: %s: %v", typ, err)
	}
}

type tfMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type tfProbe struct {
	HTTPGet []struct {
		Path string `json:"path"`
		Port string `json:"port"`
	} `json:"http_get"`
	PeriodSeconds    int32 `json:"period_seconds"`
	TimeoutSeconds   int32 `json:"timeout_seconds"`
	FailureThreshold int32 `json:"failure_threshold"`
}

type tfSeccomp struct {
	Type string `json:"type"`
}

type tfDeployment struct {
	Metadata []tfMeta `json:"metadata"`
	Spec     []struct {
		Strategy []struct {
			RollingUpdate []struct {
				MaxUnavailable string `json:"max_unavailable"`
			} `json:"rolling_update"`
		} `json:"strategy"`
		Template []struct {
			Metadata []tfMeta `json:"metadata"`
			Spec     []struct {
				AutomountServiceAccountToken  *bool `json:"automount_service_account_token"`
				TerminationGracePeriodSeconds int64 `json:"termination_grace_period_seconds"`
				SecurityContext               []struct {
					RunAsNonRoot   bool        `json:"run_as_non_root"`
					RunAsUser      string      `json:"run_as_user"`
					SeccompProfile []tfSeccomp `json:"seccomp_profile"`
				} `json:"security_context"`
				Container []struct {
					Image string   `json:"image"`
					Args  []string `json:"args"`
					Port  []struct {
						Name          string `json:"name"`
						ContainerPort int32  `json:"container_port"`
					} `json:"port"`
					Env []struct {
						Name      string  `json:"name"`
						Value     *string `json:"value"`
						ValueFrom []struct {
							SecretKeyRef []struct {
								Name     string `json:"name"`
								Key      string `json:"key"`
								Optional bool   `json:"optional"`
							} `json:"secret_key_ref"`
						} `json:"value_from"`
					} `json:"env"`
					LivenessProbe  []tfProbe `json:"liveness_probe"`
					ReadinessProbe []tfProbe `json:"readiness_probe"`
					Lifecycle      []struct {
						PreStop []json.RawMessage `json:"pre_stop"`
					} `json:"lifecycle"`
					Resources []struct {
						Limits   map[string]string `json:"limits"`
						Requests map[string]string `json:"requests"`
					} `json:"resources"`
					SecurityContext []struct {
						AllowPrivilegeEscalation *bool `json:"allow_privilege_escalation"`
						Privileged               bool  `json:"privileged"`
						ReadOnlyRootFilesystem   bool  `json:"read_only_root_filesystem"`
						RunAsNonRoot             bool  `json:"run_as_non_root"`
						Capabilities             []struct {
							Add  []string `json:"add"`
							Drop []string `json:"drop"`
						} `json:"capabilities"`
						SeccompProfile []tfSeccomp `json:"seccomp_profile"`
					} `json:"security_context"`
					VolumeMount []struct {
						Name      string `json:"name"`
						MountPath string `json:"mount_path"`
					} `json:"volume_mount"`
				} `json:"container"`
				Volume []struct {
					Name      string `json:"name"`
					ConfigMap []struct {
						Name string `json:"name"`
					} `json:"config_map"`
				} `json:"volume"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// one returns the single element of a Terraform nested block list.
func one[T any](t testing.TB, what string, s []T) T {
	t.Helper()
	if len(s) != 1 {
		var zero T
		t.Fatalf("plan: want one %s block, got %d", what, len(s))
		return zero
	}
	return s[0]
}

// workload builds the pod from the planned Deployment and ConfigMap.
func (p *tfPlan) workload(t testing.TB, source string) workload {
	t.Helper()
	var d tfDeployment
	p.resource(t, "kubernetes_deployment_v1", &d)
	tmpl := one(t, "template", one(t, "spec", d.Spec).Template)
	ps := one(t, "template.spec", tmpl.Spec)
	c := one(t, "container", ps.Container)
	meta := one(t, "template.metadata", tmpl.Metadata)

	w := workload{
		source: source, image: c.Image, args: c.Args,
		env: map[string]string{}, secretEnv: map[string]secretRef{},
		requests: map[string]resource.Quantity{}, limits: map[string]resource.Quantity{},
		annotations: meta.Annotations, configFiles: map[string]string{},
		automountToken: ps.AutomountServiceAccountToken,
		tgps:           ps.TerminationGracePeriodSeconds,
	}
	port := one(t, "port", c.Port)
	w.portName, w.port = port.Name, port.ContainerPort
	conv := func(ps []tfProbe, what string) probe {
		p := one(t, what, ps)
		out := probe{period: p.PeriodSeconds, timeout: p.TimeoutSeconds, failures: p.FailureThreshold}
		if len(p.HTTPGet) == 1 {
			out.isHTTPGet, out.path, out.port = true, p.HTTPGet[0].Path, p.HTTPGet[0].Port
		}
		return out
	}
	w.liveness = conv(c.LivenessProbe, "liveness_probe")
	w.readiness = conv(c.ReadinessProbe, "readiness_probe")
	w.hasPreStop = len(c.Lifecycle) > 0 && len(c.Lifecycle[0].PreStop) > 0
	for _, e := range c.Env {
		switch {
		case len(e.ValueFrom) == 0 && e.Value != nil:
			w.env[e.Name] = *e.Value
		case len(e.ValueFrom) == 1 && len(e.ValueFrom[0].SecretKeyRef) == 1:
			r := e.ValueFrom[0].SecretKeyRef[0]
			w.secretEnv[e.Name] = secretRef{name: r.Name, key: r.Key, optional: r.Optional}
		default:
			w.otherEnvFrom = append(w.otherEnvFrom, e.Name)
		}
	}
	psc := one(t, "pod security_context", ps.SecurityContext)
	w.podNonRoot = psc.RunAsNonRoot
	if psc.RunAsUser != "" {
		uid, err := strconv.ParseInt(psc.RunAsUser, 10, 64)
		if err != nil {
			t.Fatalf("plan: run_as_user %q: %v", psc.RunAsUser, err)
		}
		w.podUser = uid
	}
	if len(psc.SeccompProfile) == 1 {
		w.podSeccomp = psc.SeccompProfile[0].Type
	}
	sc := one(t, "container security_context", c.SecurityContext)
	w.allowPrivEsc, w.privileged, w.readOnlyRoot, w.nonRoot = sc.AllowPrivilegeEscalation, sc.Privileged, sc.ReadOnlyRootFilesystem, sc.RunAsNonRoot
	if len(sc.Capabilities) == 1 {
		w.dropCaps, w.addCaps = sc.Capabilities[0].Drop, sc.Capabilities[0].Add
	}
	if len(sc.SeccompProfile) == 1 {
		w.seccomp = sc.SeccompProfile[0].Type
	}
	res := one(t, "resources", c.Resources)
	for k, v := range res.Requests {
		w.requests[k] = resource.MustParse(v)
	}
	for k, v := range res.Limits {
		w.limits[k] = resource.MustParse(v)
	}

	var cm struct {
		Metadata []tfMeta          `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	p.resource(t, "kubernetes_config_map_v1", &cm)
	for _, m := range c.VolumeMount {
		for _, v := range ps.Volume {
			if v.Name == m.Name && len(v.ConfigMap) == 1 {
				if v.ConfigMap[0].Name != one(t, "config map metadata", cm.Metadata).Name {
					t.Errorf("%s: volume %s names ConfigMap %q, not the planned one", source, v.Name, v.ConfigMap[0].Name)
				}
				w.configMount = m.MountPath
				for k, data := range cm.Data {
					w.configFiles[k] = data
				}
			}
		}
	}
	return w
}

func (p *tfPlan) deploymentName(t testing.TB) string {
	var d tfDeployment
	p.resource(t, "kubernetes_deployment_v1", &d)
	return one(t, "metadata", d.Metadata).Name
}

func (p *tfPlan) maxUnavailable(t testing.TB) string {
	var d tfDeployment
	p.resource(t, "kubernetes_deployment_v1", &d)
	s := one(t, "spec", d.Spec)
	return one(t, "rolling_update", one(t, "strategy", s.Strategy).RollingUpdate).MaxUnavailable
}

type tfHPA struct {
	min, max, cpu int32
	target        string
}

func (p *tfPlan) hpa(t testing.TB) tfHPA {
	var h struct {
		Spec []struct {
			MinReplicas    int32 `json:"min_replicas"`
			MaxReplicas    int32 `json:"max_replicas"`
			ScaleTargetRef []struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scale_target_ref"`
			Metric []struct {
				Type     string `json:"type"`
				Resource []struct {
					Name   string `json:"name"`
					Target []struct {
						Type               string `json:"type"`
						AverageUtilization int32  `json:"average_utilization"`
					} `json:"target"`
				} `json:"resource"`
			} `json:"metric"`
		} `json:"spec"`
	}
	p.resource(t, "kubernetes_horizontal_pod_autoscaler_v2", &h)
	s := one(t, "spec", h.Spec)
	m := one(t, "metric", s.Metric)
	r := one(t, "metric resource", m.Resource)
	if m.Type != "Resource" || r.Name != "cpu" || one(t, "target", r.Target).Type != "Utilization" {
		t.Errorf("terraform HPA does not scale on CPU utilization: %+v", m)
	}
	ref := one(t, "scale_target_ref", s.ScaleTargetRef)
	if ref.Kind != "Deployment" {
		t.Errorf("terraform HPA scales a %s", ref.Kind)
	}
	return tfHPA{min: s.MinReplicas, max: s.MaxReplicas, cpu: one(t, "target", r.Target).AverageUtilization, target: ref.Name}
}

func (p *tfPlan) pdbMaxUnavailable(t testing.TB) string {
	var pdb struct {
		Spec []struct {
			MaxUnavailable string `json:"max_unavailable"`
		} `json:"spec"`
	}
	p.resource(t, "kubernetes_pod_disruption_budget_v1", &pdb)
	return one(t, "spec", pdb.Spec).MaxUnavailable
}

func (p *tfPlan) servicePort(t testing.TB) (int32, string) {
	var s struct {
		Spec []struct {
			Port []struct {
				Port       int32  `json:"port"`
				TargetPort string `json:"target_port"`
			} `json:"port"`
		} `json:"spec"`
	}
	p.resource(t, "kubernetes_service_v1", &s)
	port := one(t, "port", one(t, "spec", s.Spec).Port)
	return port.Port, port.TargetPort
}

// --- files -----------------------------------------------------------------------------------

func copyFiles(t testing.TB, from, to string, keep func(name string) bool) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !keep(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(to, e.Name()), string(b))
		n++
	}
	if n == 0 {
		t.Fatal(errors.New("copyFiles: nothing to copy from " + from))
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
