package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOutIsUpToDate fails when dashboards/out/ differs from what the code generates: out/ is
// what SREs import, so it must be regenerated (go tool task dashboards) and committed with any
// change to the generators.
func TestOutIsUpToDate(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("out", name))
		if err != nil {
			t.Errorf("%v: run `go tool task dashboards` and commit dashboards/out/", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("out/%s differs from the generated one: run `go tool task dashboards` and commit dashboards/out/", name)
		}
	}
	entries, err := os.ReadDir("out")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("out/%s is not generated any more: delete it", e.Name())
		}
	}
	if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == RulesFile }) {
		t.Errorf("out/%s missing", RulesFile)
	}
}
