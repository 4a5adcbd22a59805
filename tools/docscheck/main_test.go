package main

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

const taskfile = `version: "3"

vars:
  BIN_DIR: bin

tasks:
  default:
    desc: List the tasks
  build:
    cmds:
      - go build ./...
  test:bdd:
    desc: BDD
  # a comment
  chaos:up:
    cmds:
      - task: build

includes:
  other: ./other.yml
`

func TestParseTasks(t *testing.T) {
	got := parseTasks(taskfile)
	want := map[string]bool{"default": true, "build": true, "test:bdd": true, "chaos:up": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tasks = %v, want %v (vars and includes are not tasks)", got, want)
	}
}

func TestFirstTask(t *testing.T) {
	for args, want := range map[string]string{
		" run":                         "run",
		" test:bdd BDD_TAGS=@smoke":    "test:bdd",
		" --list":                      "",
		" -f lint":                     "lint",
		" fuzz FUZZTIME=10s":           "fuzz",
		"    # comment":                "",
		" run -- --config x.yaml":      "run",
		" chaos:up.":                   "chaos:up",
		" (go-task v3)":                "",
		" FOO=1 dashboards && echo ok": "dashboards",
	} {
		if got := firstTask(args); got != want {
			t.Errorf("firstTask(%q) = %q, want %q", args, got, want)
		}
	}
}

func TestScan(t *testing.T) {
	doc := strings.Join([]string{
		"Run `go tool task build` or `go tool task --list`; see [the docs](docs/a.md#top) and [web](https://x.org/y).", // 1
		"Config in `service/config.yaml:12`, flags `--config=toxiproxy/service.yaml`, `./harness/bdd/...`.",            // 2
		"Not paths: `a/b`, `service`, `REGISTRY/aiservice:TAG`; a test: `TestX/sub`; not one: `Testing`.",              // 3
		"```sh",                             // 4
		"go tool task test:bdd",             // 5
		"kubectl kustomize gitops/overlays", // 6
		"[not a link](inside/code.md)",      // 7
		"```",                               // 8
		"[ref]: terraform/README.md",        // 9
	}, "\n")
	got := scan(doc)
	want := []ref{
		{refTask, "build", 1},
		{refLink, "docs/a.md#top", 1},
		{refLink, "https://x.org/y", 1},
		{refCode, "service/config.yaml", 2},
		{refCode, "toxiproxy/service.yaml", 2},
		{refCode, "harness/bdd", 2},
		{refTest, "TestX", 3},
		{refTask, "test:bdd", 5},
		{refCode, "gitops/overlays", 6},
		{refLink, "terraform/README.md", 9},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scan:\n got  %v\n want %v", got, want)
	}
}

func TestResolve(t *testing.T) {
	ignored := []string{"bin/", "harness/reports/"}
	for _, tc := range []struct {
		doc  string
		r    ref
		want string // "" = not checked
	}{
		{"dashboards/README.md", ref{kind: refLink, value: "../docs/metrics.md"}, "docs/metrics.md"},
		{"docs/x.md", ref{kind: refLink, value: "img/a.svg"}, "docs/img/a.svg"},
		{"docs/x.md", ref{kind: refLink, value: "/service/README.md"}, "service/README.md"},
		{"docs/x.md", ref{kind: refLink, value: "#anchor"}, ""},
		{"docs/x.md", ref{kind: refLink, value: "mailto:a@b.c"}, ""},
		{"docs/x.md", ref{kind: refCode, value: "service/internal/config/config.go"}, "service/internal/config/config.go"},
		{"docs/x.md", ref{kind: refCode, value: "harness/reports/bdd-junit.xml"}, ""},
		{"docs/x.md", ref{kind: refCode, value: "dashboards/out/*.json"}, ""},
		{"docs/x.md", ref{kind: refCode, value: "service/testdata/FILE.yaml"}, ""},
		{"docs/x.md", ref{kind: refCode, value: "docs/<page>.md"}, ""},
		{"docs/x.md", ref{kind: refCode, value: "service/README.md"}, "service/README.md"},
	} {
		got, ok := resolve(tc.doc, tc.r, ignored)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("resolve(%s, %q) = %q, want %q", tc.doc, tc.r.value, got, tc.want)
		}
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	fsys := fstest.MapFS{
		"Taskfile.yml":          {Data: []byte(taskfile)},
		".gitignore":            {Data: []byte("/bin/\n*.out\n")},
		"README.md":             {Data: []byte("`go tool task build` and `go tool task bench`\n[docs](docs/README.md)\n")},
		"docs/README.md":        {Data: []byte("[gone](missing.md) and `service/nope.go` and `bin/aiservice`\n")},
		"docs/a.md":             {Data: []byte("[up](../README.md)\n")},
		"service/README.md":     {Data: []byte("`service/README.md`\n")},
		".hidden/README.md":     {Data: []byte("`go tool task nothing`\n")},
		"service/cmd/README.md": {Data: []byte("```\ngo tool task chaos:up\ngo tool task missing\n```\n")},
		"docs/tests.md":         {Data: []byte("`TestReal`, `TestReal/sub_case`, `FuzzReal` and `TestGone/sub`\n")},
		"service/x/x_test.go":   {Data: []byte("package x\n\nfunc TestReal(t *testing.T) {}\n\nfunc FuzzReal(f *testing.F) {}\n")},
		"bin/ignored_test.go":   {Data: []byte("package x\n\nfunc TestGone(t *testing.T) {}\n")},
	}
	problems, st, err := check(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`README.md:1: ` + "`go tool task bench`" + `: no task "bench" in Taskfile.yml`,
		`docs/README.md:1: link "missing.md": docs/missing.md does not exist`,
		`docs/README.md:1: path "service/nope.go": service/nope.go does not exist`,
		`docs/tests.md:1: test TestGone: no func TestGone in any _test.go file`,
		`service/cmd/README.md:3: ` + "`go tool task missing`" + `: no task "missing" in Taskfile.yml`,
	}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("problems:\n got  %q\n want %q", problems, want)
	}
	if st.files != 6 {
		t.Errorf("files checked = %d, want 6 (README.md, three in docs/, two READMEs; not .hidden/)", st.files)
	}
	if st.tests != 4 {
		t.Errorf("test names checked = %d, want 4", st.tests)
	}
}
