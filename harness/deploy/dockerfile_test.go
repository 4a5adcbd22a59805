package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	appsv1 "k8s.io/api/apps/v1"
)

// dockerfile is what the rules need from a parsed Dockerfile: the final (runtime) stage's
// settings and the commands of every build stage.
type dockerfile struct {
	args       map[string]string // ARGs before the first FROM, with their defaults
	stages     []instructions.Stage
	final      instructions.Stage
	user       string            // last USER of the final stage
	env        map[string]string // ENV of the final stage
	expose     []string          // EXPOSE of the final stage
	entrypoint *instructions.EntrypointCommand
	cmd        *instructions.CmdCommand
}

// parseDockerfile parses with BuildKit's own parser and instruction decoder, so syntax the real
// builder rejects is rejected here, and BuildKit's lint warnings count as errors.
func parseDockerfile(src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []parser.Range) {
		warnings = append(warnings, rule+": "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("dockerfile: buildkit warnings: %s", strings.Join(warnings, "; "))
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("dockerfile: no FROM")
	}
	d := &dockerfile{args: map[string]string{}, stages: stages, final: stages[len(stages)-1], env: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				d.args[kv.Key] = *kv.Value
			}
		}
	}
	for _, c := range d.final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			d.user = c.User
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				d.env[kv.Key] = kv.Value
			}
		case *instructions.ExposeCommand:
			d.expose = append(d.expose, c.Ports...)
		case *instructions.EntrypointCommand:
			d.entrypoint = c
		case *instructions.CmdCommand:
			d.cmd = c
		}
	}
	return d, nil
}

var (
	// The runtime must have no shell or package manager and a non-root default user.
	// (distroless's debug tags add a busybox shell, so they do not qualify.)
	allowedRuntimeBase = regexp.MustCompile(`^(scratch|gcr\.io/distroless/static(-debian\d+)?:(latest-)?nonroot(@sha256:[0-9a-f]{64})?)$`)
	numericUser        = regexp.MustCompile(`^([0-9]+)(:([0-9]+))?$`)
)

// dockerfileViolations applies the image rules. servicePort is the port the service listens on.
func dockerfileViolations(d *dockerfile, servicePort string) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	if len(d.stages) < 2 {
		bad("not multi-stage: the toolchain would ship in the image")
	}
	stageNames := map[string]bool{}
	for _, s := range d.stages {
		if s.Name != "" {
			stageNames[s.Name] = true
		}
		base := d.expand(s.BaseName)
		if stageNames[base] && base != s.Name {
			continue // FROM an earlier stage
		}
		if base != "scratch" && !strings.Contains(lastPathElem(base), ":") && !strings.Contains(base, "@") {
			bad("base image %q has no tag or digest", base)
		}
		if strings.HasSuffix(base, ":latest") {
			bad("base image %q uses :latest", base)
		}
	}
	if !allowedRuntimeBase.MatchString(d.final.BaseName) {
		bad("runtime base %q is not distroless static nonroot or scratch", d.final.BaseName)
	}

	// The static, reproducible build.
	var build string
	for _, s := range d.stages[:len(d.stages)-1] {
		for _, c := range s.Commands {
			if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
				build = strings.Join(r.CmdLine, " ")
			}
		}
	}
	switch {
	case build == "":
		bad("no `go build` in a build stage")
	default:
		if !strings.Contains(build, "CGO_ENABLED=0") {
			bad("go build without CGO_ENABLED=0: the binary would need libc, which the runtime lacks")
		}
		if !strings.Contains(build, "-trimpath") {
			bad("go build without -trimpath")
		}
		if !strings.Contains(build, "./cmd/aiservice") {
			bad("go build does not build ./cmd/aiservice")
		}
	}

	// The runtime stage: nothing runs a shell in it, and it only copies the binary in.
	copied := false
	for _, c := range d.final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			bad("RUN in the runtime stage (%s): the runtime has no shell", strings.Join(c.CmdLine, " "))
		case *instructions.CopyCommand:
			if c.From == "" {
				bad("COPY from the build context into the runtime stage: copy only the built binary")
			}
			copied = true
		case *instructions.AddCommand:
			bad("ADD in the runtime stage")
		}
	}
	if !copied {
		bad("the runtime stage copies nothing from the build stage")
	}

	if m := numericUser.FindStringSubmatch(d.user); m == nil {
		bad("USER %q is not a numeric uid[:gid] (Kubernetes can check runAsNonRoot only for a numeric user)", d.user)
	} else if m[1] == "0" || m[3] == "0" {
		bad("USER %q is root", d.user)
	}

	if !slices.Equal(d.expose, []string{servicePort}) && !slices.Equal(d.expose, []string{servicePort + "/tcp"}) {
		bad("EXPOSE %v, want exactly the service port %s", d.expose, servicePort)
	}
	if addr, ok := d.env["AISERVICE_ADDR"]; !ok {
		bad("no ENV AISERVICE_ADDR: the service's default listens on loopback only, unreachable from outside the container")
	} else if host, port, err := net.SplitHostPort(addr); err != nil || (host != "" && host != "0.0.0.0" && host != "::") || port != servicePort {
		bad("ENV AISERVICE_ADDR=%q, want all interfaces on port %s", addr, servicePort)
	}

	switch {
	case d.entrypoint == nil:
		bad("no ENTRYPOINT")
	case d.entrypoint.PrependShell:
		bad("ENTRYPOINT in shell form: it needs /bin/sh and the service would not be PID 1 to receive SIGTERM")
	}
	if d.cmd != nil && d.cmd.PrependShell {
		bad("CMD in shell form")
	}
	return v
}

// expand substitutes the defaults of the ARGs declared before the first FROM, as BuildKit does
// when no --build-arg overrides them.
func (d *dockerfile) expand(s string) string {
	for k, v := range d.args {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
		s = strings.ReplaceAll(s, "$"+k, v)
	}
	return s
}

// buildGoVersion is the Go version of the golang build image.
func (d *dockerfile) buildGoVersion() string {
	for _, s := range d.stages {
		if name, tag, ok := strings.Cut(d.expand(s.BaseName), ":"); ok && (name == "golang" || strings.HasSuffix(name, "/golang")) {
			return strings.SplitN(tag, "-", 2)[0]
		}
	}
	return ""
}

func lastPathElem(image string) string {
	return image[strings.LastIndex(image, "/")+1:]
}

// TestDockerfile checks service/Dockerfile against the image rules, with the port taken from
// the service's own default address, and checks that the image's environment configures the
// service as intended.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "service", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(serviceDefaults(t).Addr)
	if err != nil {
		t.Fatalf("service default addr: %v", err)
	}
	for _, v := range dockerfileViolations(d, port) {
		t.Error(v)
	}

	// Every ENV of the image is a variable the service reads, and with exactly the image's
	// environment the service's effective address is all interfaces on that port.
	names := serviceEnvNames(t)
	for k := range d.env {
		if !names[k] {
			t.Errorf("ENV %s is not read by the service (aiservice config --env)", k)
		}
	}
	cfg, err := effectiveConfig(t, d.env, "")
	if err != nil {
		t.Fatalf("the image's environment is rejected by the service: %v", err)
	}
	host, gotPort, err := net.SplitHostPort(cfg.Addr)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") || gotPort != port {
		t.Errorf("effective addr in the image = %q, want all interfaces on port %s", cfg.Addr, port)
	}
	uid, _ := strconv.Atoi(strings.SplitN(d.user, ":", 2)[0])
	if podUID := int(*only[*appsv1.Deployment](t, mustRender(t, "gitops/base")).Spec.Template.Spec.SecurityContext.RunAsUser); podUID != uid {
		t.Errorf("image USER %d != pod runAsUser %d: pick one uid", uid, podUID)
	}

	// The build image's Go must be the one service/go.mod asks for: an older one fails the
	// build, and a newer one would make the image differ from what CI tests.
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "service", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("service/go.mod has no go directive")
	}
	if got := d.buildGoVersion(); got != string(m[1]) {
		t.Errorf("build image Go %q, service/go.mod says go %s", got, m[1])
	}
}

// TestDockerfileRulesRejectBadImages proves each rule fires: every case is a valid Dockerfile
// with one mistake.
func TestDockerfileRulesRejectBadImages(t *testing.T) {
	const good = `# syntax=docker/dockerfile:1
FROM golang:1.26.8 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/aiservice ./cmd/aiservice
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aiservice /aiservice
ENV AISERVICE_ADDR=0.0.0.0:8080
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/aiservice"]
CMD ["serve"]
`
	d, err := parseDockerfile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if v := dockerfileViolations(d, "8080"); len(v) > 0 {
		t.Fatalf("the reference Dockerfile violates the rules: %v", v)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"single stage", "FROM golang:1.26.8 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -trimpath -o /out/aiservice ./cmd/aiservice\n", "", "not multi-stage"},
		{"untagged base", "FROM golang:1.26.8 AS build", "FROM golang AS build", `"golang" has no tag`},
		{"latest base", "FROM golang:1.26.8 AS build", "FROM golang:latest AS build", "uses :latest"},
		{"full distro runtime", "gcr.io/distroless/static-debian12:nonroot", "debian:12", "not distroless static nonroot"},
		{"root distroless runtime", "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12:debug", "not distroless static nonroot"},
		{"cgo build", "CGO_ENABLED=0 go build", "go build", "CGO_ENABLED=0"},
		{"no trimpath", " -trimpath", "", "-trimpath"},
		{"shell in runtime", "USER 65532:65532", "RUN mkdir /data\nUSER 65532:65532", "RUN in the runtime stage"},
		{"context copied into runtime", "COPY --from=build /out/aiservice /aiservice", "COPY --from=build /out/aiservice /aiservice\nCOPY . /app", "COPY from the build context"},
		{"named user", "USER 65532:65532", "USER nonroot", "not a numeric uid"},
		{"root user", "USER 65532:65532", "USER 0", "is root"},
		{"no user", "USER 65532:65532\n", "", "not a numeric uid"},
		{"wrong port exposed", "EXPOSE 8080", "EXPOSE 80", "EXPOSE [80]"},
		{"loopback address", "AISERVICE_ADDR=0.0.0.0:8080", "AISERVICE_ADDR=127.0.0.1:8080", "want all interfaces"},
		{"no address", "ENV AISERVICE_ADDR=0.0.0.0:8080\n", "", "no ENV AISERVICE_ADDR"},
		{"shell-form entrypoint", `ENTRYPOINT ["/aiservice"]`, "ENTRYPOINT /aiservice", "ENTRYPOINT in shell form"},
		{"no entrypoint", "ENTRYPOINT [\"/aiservice\"]\n", "", "no ENTRYPOINT"},
		{"shell-form cmd", `CMD ["serve"]`, "CMD serve", "CMD in shell form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("case does not apply: %q not in the reference", tt.old)
			}
			d, err := parseDockerfile([]byte(strings.Replace(good, tt.old, tt.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			v := dockerfileViolations(d, "8080")
			if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("violations %v do not include %q", v, tt.want)
			}
		})
	}
}

// TestDockerfileSyntaxErrorsFail: what BuildKit itself rejects or warns about fails here too.
func TestDockerfileSyntaxErrorsFail(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown instruction", "FROM scratch\nFROMM scratch\n", "unknown instruction"},
		{"stage name casing lint", "FROM golang:1.26.8 AS Build\nFROM scratch\n", "StageNameCasing"},
		{"no FROM", "ARG X=1\n", "no FROM"},
		{"empty file", "# nothing\n", "no instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDockerfile([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
