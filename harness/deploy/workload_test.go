package deploy

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// workload is the pod as Kustomize or Terraform would create it, in one shape, so that both are
// held to the same checks and compared with each other.
type workload struct {
	source         string // for messages
	image          string
	args           []string
	portName       string
	port           int32
	liveness       probe
	readiness      probe
	tgps           int64 // terminationGracePeriodSeconds
	hasPreStop     bool
	env            map[string]string    // literal values
	secretEnv      map[string]secretRef // from Secrets
	otherEnvFrom   []string             // names set from anything but a literal or a Secret
	podNonRoot     bool
	podUser        int64
	podSeccomp     string
	allowPrivEsc   *bool
	privileged     bool
	readOnlyRoot   bool
	nonRoot        bool
	dropCaps       []string
	addCaps        []string
	seccomp        string
	requests       map[string]resource.Quantity
	limits         map[string]resource.Quantity
	annotations    map[string]string
	configMount    string            // mount path of the config volume
	configFiles    map[string]string // file name in the mount -> content
	automountToken *bool
}

type probe struct {
	path      string
	port      string // a port name or number, as written
	period    int32
	timeout   int32
	failures  int32
	isHTTPGet bool
}

type secretRef struct {
	name, key string
	optional  bool
}

// workloadFromManifests builds the workload from a rendered Deployment and the ConfigMaps
// rendered with it.
func workloadFromManifests(t testing.TB, source string, objs []object) (workload, *appsv1.Deployment) {
	t.Helper()
	d := only[*appsv1.Deployment](t, objs)
	ps := d.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", source, len(ps.Containers))
	}
	c := ps.Containers[0]
	w := workload{
		source:         source,
		image:          c.Image,
		args:           c.Args,
		env:            map[string]string{},
		secretEnv:      map[string]secretRef{},
		requests:       map[string]resource.Quantity{},
		limits:         map[string]resource.Quantity{},
		annotations:    d.Spec.Template.Annotations,
		configFiles:    map[string]string{},
		automountToken: ps.AutomountServiceAccountToken,
		hasPreStop:     c.Lifecycle != nil && c.Lifecycle.PreStop != nil,
	}
	if len(c.Ports) == 1 {
		w.portName, w.port = c.Ports[0].Name, c.Ports[0].ContainerPort
	} else {
		t.Errorf("%s: want one container port, got %d", source, len(c.Ports))
	}
	w.liveness = probeFromK8s(c.LivenessProbe)
	w.readiness = probeFromK8s(c.ReadinessProbe)
	if ps.TerminationGracePeriodSeconds != nil {
		w.tgps = *ps.TerminationGracePeriodSeconds
	} else {
		w.tgps = corev1.DefaultTerminationGracePeriodSeconds
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			w.env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			w.secretEnv[e.Name] = secretRef{name: r.Name, key: r.Key, optional: r.Optional != nil && *r.Optional}
		default:
			w.otherEnvFrom = append(w.otherEnvFrom, e.Name)
		}
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom imports variables nobody can check by name; list them in env", source)
	}
	if sc := ps.SecurityContext; sc != nil {
		w.podNonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		if sc.RunAsUser != nil {
			w.podUser = *sc.RunAsUser
		}
		if sc.SeccompProfile != nil {
			w.podSeccomp = string(sc.SeccompProfile.Type)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		w.allowPrivEsc = sc.AllowPrivilegeEscalation
		w.privileged = sc.Privileged != nil && *sc.Privileged
		w.readOnlyRoot = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		w.nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Drop {
				w.dropCaps = append(w.dropCaps, string(c))
			}
			for _, c := range sc.Capabilities.Add {
				w.addCaps = append(w.addCaps, string(c))
			}
		}
		if sc.SeccompProfile != nil {
			w.seccomp = string(sc.SeccompProfile.Type)
		}
	}
	for k, v := range c.Resources.Requests {
		w.requests[string(k)] = v
	}
	for k, v := range c.Resources.Limits {
		w.limits[string(k)] = v
	}
	// The config file: the volume mounted for it, resolved to the rendered ConfigMap.
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range all[*corev1.ConfigMap](objs) {
		cms[cm.Name] = cm
	}
	for _, m := range c.VolumeMounts {
		for _, v := range ps.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := cms[v.ConfigMap.Name]
			if !ok {
				t.Errorf("%s: volume %s names ConfigMap %q, which is not rendered with it", source, v.Name, v.ConfigMap.Name)
				continue
			}
			if len(v.ConfigMap.Items) > 0 {
				t.Errorf("%s: volume %s selects items; the check below assumes every key is a file", source, v.Name)
			}
			w.configMount = m.MountPath
			for k, data := range cm.Data {
				w.configFiles[k] = data
			}
		}
	}
	return w, d
}

func probeFromK8s(p *corev1.Probe) probe {
	if p == nil {
		return probe{}
	}
	out := probe{period: p.PeriodSeconds, timeout: p.TimeoutSeconds, failures: p.FailureThreshold}
	if g := p.HTTPGet; g != nil {
		out.isHTTPGet, out.path, out.port = true, g.Path, g.Port.String()
	}
	return out
}

// serviceEnv is the environment the service process would see, with the config file's
// content: AISERVICE_CONFIG is resolved against the mounted ConfigMap. Secrets are absent,
// as they are when the optional Secret does not exist.
func (w workload) serviceEnv() (env map[string]string, configYAML string, err error) {
	env = cloneMap(w.env)
	if p, ok := env["AISERVICE_CONFIG"]; ok {
		dir, file := path.Split(p)
		if path.Clean(dir) != path.Clean(w.configMount) {
			return nil, "", fmt.Errorf("AISERVICE_CONFIG=%s is not in the config volume mounted at %q", p, w.configMount)
		}
		data, ok := w.configFiles[file]
		if !ok {
			return nil, "", fmt.Errorf("AISERVICE_CONFIG=%s, but the ConfigMap has no key %q (keys: %v)", p, file, sortedKeys(w.configFiles))
		}
		configYAML = data
	}
	return env, configYAML, nil
}

var secretish = regexp.MustCompile(`(?i)(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)`)

// checkWorkload holds a workload to the rules every environment shares, and to the service's
// own configuration (see workloadViolations). It returns that effective configuration.
func checkWorkload(t *testing.T, w workload) serviceConfig {
	t.Helper()
	cfg, violations := workloadViolations(t, w)
	for _, v := range violations {
		t.Errorf("%s: %s", w.source, v)
	}
	return cfg
}

// workloadViolations applies the rules every environment shares, and checks the pod against
// the service's own configuration: it runs `aiservice config` with the pod's environment and
// config file, and returns that effective configuration with every rule broken.
func workloadViolations(t testing.TB, w workload) (serviceConfig, []string) {
	t.Helper()
	var violations []string
	bad := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }

	// The image: pinned, never the bare placeholder kustomize's images: should have replaced.
	if name, tag, ok := strings.Cut(lastPathElem(w.image), ":"); !ok || tag == "" || tag == "latest" || name == "" {
		bad("image %q has no pinned tag", w.image)
	}
	if !strings.Contains(w.image, "/") {
		bad("image %q has no registry/repository: kustomize images: did not apply", w.image)
	}
	if len(w.args) > 0 && w.args[0] != "serve" {
		bad("args %v: the pod must run `aiservice serve`", w.args)
	}

	// Env: only names the service reads; secrets only from Secrets.
	names := serviceEnvNames(t)
	for name := range w.env {
		if !names[name] {
			bad("env %s is not read by the service (aiservice config --env); misspelled?", name)
		}
		if secretish.MatchString(name) && w.env[name] != "" {
			bad("env %s has a literal value: secrets must come from a Secret", name)
		}
	}
	for name, ref := range w.secretEnv {
		if !names[name] {
			bad("env %s (from Secret %s) is not read by the service", name, ref.name)
		}
		if ref.name == "" || ref.key == "" {
			bad("env %s: secretKeyRef without name or key", name)
		}
	}
	for _, name := range []string{"OPENAI_API_KEY", "AISERVICE_API_KEYS"} {
		if _, ok := w.secretEnv[name]; !ok {
			bad("env %s must come from a secretKeyRef", name)
		}
	}
	for _, name := range w.otherEnvFrom {
		if !names[name] {
			bad("env %s is not read by the service", name)
		}
	}

	// The effective configuration, as the service itself computes it from this pod.
	env, configYAML, err := w.serviceEnv()
	if err != nil {
		bad("%v", err)
		return serviceConfig{}, violations
	}
	cfg, err := effectiveConfig(t, env, configYAML)
	if err != nil {
		bad("the service rejects the pod's configuration: %v", err)
		return cfg, violations
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		bad("effective addr %q: %v", cfg.Addr, err)
		return cfg, violations
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		bad("effective addr %q listens on %s only: the kubelet's probes and the Service cannot reach it", cfg.Addr, host)
	}
	if port != strconv.Itoa(int(w.port)) {
		bad("service listens on port %s, containerPort is %d", port, w.port)
	}
	if p := w.annotations["prometheus.io/port"]; p != "" && p != port {
		bad("prometheus.io/port %s, service listens on %s", p, port)
	}

	// Probes: HTTP, on the container's port, liveness and readiness distinct (readiness is
	// the one that turns 503 while draining; liveness must not, or draining pods get killed).
	for _, p := range []struct {
		name string
		p    probe
	}{{"liveness", w.liveness}, {"readiness", w.readiness}} {
		switch {
		case !p.p.isHTTPGet:
			bad("%s probe is not an httpGet", p.name)
		case p.p.port != w.portName && p.p.port != port:
			bad("%s probe port %q is not the container port %s/%d", p.name, p.p.port, w.portName, w.port)
		case !strings.HasPrefix(p.p.path, "/"):
			bad("%s probe path %q", p.name, p.p.path)
		}
		if p.p.timeout < 1 || p.p.period < 1 || p.p.failures < 1 {
			bad("%s probe: period/timeout/failureThreshold must be set (got %d/%d/%d)", p.name, p.p.period, p.p.timeout, p.p.failures)
		}
	}
	if w.liveness.path == w.readiness.path {
		bad("liveness and readiness probe the same path %q", w.liveness.path)
	}

	// Shutdown: the kubelet must not SIGKILL before the service has drained.
	need := cfg.Shutdown.PreDrainDelay.D() + cfg.Shutdown.GracePeriod.D()
	if tgps := time.Duration(w.tgps) * time.Second; tgps <= need {
		bad("terminationGracePeriodSeconds %d <= pre_drain_delay %v + grace_period %v", w.tgps, cfg.Shutdown.PreDrainDelay.D(), cfg.Shutdown.GracePeriod.D())
	}
	if cfg.Shutdown.PreDrainDelay.D() == 0 && !w.hasPreStop {
		bad("neither a pre-drain delay nor a preStop hook: requests still routed to the pod fail during endpoint propagation")
	}

	// Security context.
	if !w.podNonRoot || w.podUser == 0 {
		bad("pod must run as non-root with a non-zero runAsUser (got runAsNonRoot=%v runAsUser=%d)", w.podNonRoot, w.podUser)
	}
	if w.podSeccomp != "RuntimeDefault" && w.seccomp != "RuntimeDefault" {
		bad("seccomp profile must be RuntimeDefault")
	}
	if w.allowPrivEsc == nil || *w.allowPrivEsc {
		bad("allowPrivilegeEscalation must be false")
	}
	if w.privileged {
		bad("privileged container")
	}
	if !w.readOnlyRoot {
		bad("readOnlyRootFilesystem must be true")
	}
	if len(w.dropCaps) != 1 || w.dropCaps[0] != "ALL" || len(w.addCaps) > 0 {
		bad("capabilities: drop [ALL] and add none (got drop %v add %v)", w.dropCaps, w.addCaps)
	}
	if w.automountToken == nil || *w.automountToken {
		bad("automountServiceAccountToken must be false: the service never calls the Kubernetes API")
	}

	// Resources: both set (the HPA's CPU utilization is relative to the request), request <= limit.
	for _, r := range []string{"cpu", "memory"} {
		req, okReq := w.requests[r]
		lim, okLim := w.limits[r]
		switch {
		case !okReq || !okLim:
			bad("%s request and limit must both be set", r)
		case req.Cmp(lim) > 0:
			bad("%s request %s > limit %s", r, req.String(), lim.String())
		}
	}
	return cfg, violations
}
