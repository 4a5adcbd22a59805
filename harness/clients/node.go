// Package clients drives the npm clients users call aiservice with — `openai`, the Vercel AI
// SDK, LangChain.js, `@anthropic-ai/sdk` — from Node against real aiservice processes. The
// scripts live in harness/js, one per client; each prints one JSON line per case, which the Go
// tests check value by value.
package clients

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tidwall/gjson"

	"aiservice/harness/launch"
)

// stampFile, inside node_modules, holds the digest of the package-lock.json it was installed
// from: `npm ci` removes node_modules first, so a stamp never outlives its install.
const stampFile = ".aiservice-lock.sha256"

// Dir is harness/js, the folder with package.json, the lock file and the scripts.
func Dir() (string, error) {
	root, err := launch.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("harness/js: %w", err)
	}
	return filepath.Join(root, "harness", "js"), nil
}

// Install runs `npm ci` in dir unless node_modules was installed from the current
// package-lock.json. npm's cache stays in dir/.npm-cache, so a reinstall needs no network.
// A file lock keeps two test processes from installing at once.
func Install(ctx context.Context, dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("npm ci: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", stampFile)

	f, err := os.OpenFile(filepath.Join(dir, ".npm-ci.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("npm ci lock: %w", err)
	}
	defer f.Close() // releases the lock
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("npm ci lock: %w", err)
	}

	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--cache", filepath.Join(dir, ".npm-cache"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("npm ci stamp: %w", err)
	}
	return nil
}

// Run runs `node script` in dir with only PATH, HOME and env in its environment (no proxies,
// no tracing exporters) and returns the JSON line of each case it printed, by case name.
func Run(ctx context.Context, dir, script string, env ...string) (map[string]gjson.Result, error) {
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node %s: %w\nstdout:\n%s\nstderr:\n%s", script, err, stdout.Bytes(), stderr.Bytes())
	}
	cases := map[string]gjson.Result{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !gjson.ValidBytes(line) {
			return nil, fmt.Errorf("node %s printed a line that is not JSON: %q", script, line)
		}
		r := gjson.ParseBytes(line)
		name := r.Get("case").String()
		if name == "" {
			return nil, fmt.Errorf("node %s printed a line without a case: %s", script, line)
		}
		cases[name] = r
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("node %s output: %w", script, err)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("node %s printed no case\nstderr:\n%s", script, stderr.Bytes())
	}
	return cases, nil
}
