package clients

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInstallRunsNPMCIOnlyWhenTheLockChanged: a package with no dependencies (nothing to
// download) installs once; a second Install leaves node_modules alone; a changed lock file or
// a deleted node_modules installs again. npm ci empties node_modules, so a marker file placed
// there tells whether it ran.
func TestInstallRunsNPMCIOnlyWhenTheLockChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lock := func(version string) string {
		return `{"name":"p","version":"` + version + `","lockfileVersion":3,"requires":true,"packages":{"":{"name":"p","version":"` + version + `"}}}`
	}
	write("package.json", `{"name":"p","version":"1.0.0","private":true}`)
	write("package-lock.json", lock("1.0.0"))
	marker := filepath.Join(dir, "node_modules", "marker")

	for _, step := range []struct {
		name    string
		before  func()
		wantRan bool
	}{
		{"first install", func() {}, true},
		{"same lock", func() {}, false},
		{"lock changed", func() {
			write("package.json", `{"name":"p","version":"1.0.1","private":true}`)
			write("package-lock.json", lock("1.0.1"))
		}, true},
		{"node_modules deleted", func() {
			if err := os.RemoveAll(filepath.Join(dir, "node_modules")); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		step.before()
		if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
			t.Fatal(err)
		}
		write("node_modules/marker", "")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := Install(ctx, dir)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		_, statErr := os.Stat(marker)
		if ran := os.IsNotExist(statErr); ran != step.wantRan {
			t.Errorf("%s: npm ci ran = %v, want %v", step.name, ran, step.wantRan)
		}
	}
}
