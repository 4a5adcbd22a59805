package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// scrape reads a service's /metrics into series → value ("name{labels}" as exposed).
func scrape(ctx context.Context, baseURL string) (map[string]float64, error) {
	text, err := client.New(baseURL).Metrics(ctx)
	if err != nil {
		return nil, err
	}
	return parseMetrics(text), nil
}

func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// runtimeSample is what the leak checks watch: the Go and process collectors' gauges.
type runtimeSample struct {
	At         time.Duration `json:"at_ms"`
	Goroutines float64       `json:"goroutines"`
	OpenFDs    float64       `json:"open_fds"`
	RSS        float64       `json:"rss_bytes"`
}

func sampleRuntime(ctx context.Context, baseURL string) (runtimeSample, error) {
	m, err := scrape(ctx, baseURL)
	if err != nil {
		return runtimeSample{}, err
	}
	s := runtimeSample{Goroutines: m["go_goroutines"], OpenFDs: m["process_open_fds"], RSS: m["process_resident_memory_bytes"]}
	if s.Goroutines == 0 || s.OpenFDs == 0 || s.RSS == 0 {
		return s, fmt.Errorf("runtime gauges missing from /metrics: %+v", s)
	}
	return s, nil
}

// logAddr is the addr of the process's first log line with message msg, waiting for it.
func logAddr(t *testing.T, p *launch.Process, msg string) string {
	t.Helper()
	var addr string
	eventually(t, 5*time.Second, "the "+msg+" log line", func() (bool, string) {
		for _, l := range p.LogLines() {
			if l["msg"] == msg {
				addr, _ = l["addr"].(string)
				return addr != "", p.Logs()
			}
		}
		return false, p.Logs()
	})
	return addr
}

// eventually polls cond until it holds or the limit passes; the last detail goes in the failure.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(limit)
	detail := ""
	for {
		var ok bool
		if ok, detail = cond(); ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s: %s", limit, what, detail)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// writeReport writes v as indented JSON to harness/reports/NAME (not committed; CI keeps it).
func writeReport(t *testing.T, name string, v any) {
	t.Helper()
	root, err := launch.RepoRoot()
	if err != nil {
		t.Errorf("report %s: %v", name, err)
		return
	}
	dir := filepath.Join(root, "harness", "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("report %s: %v", name, err)
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Errorf("report %s: %v", name, err)
		return
	}
	t.Logf("report written to %s", path)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// isOpenAIError reports whether a body is OpenAI's error envelope with a message and a type.
func isOpenAIError(body []byte) (client.ErrorBody, bool) {
	var e client.ErrorBody
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil || len(raw) != 1 || raw["error"] == nil {
		return e, false
	}
	if json.Unmarshal(body, &e) != nil {
		return e, false
	}
	return e, e.Error.Message != "" && e.Error.Type != ""
}

// userChat is a one-message chat request.
func userChat(text string) client.ChatRequest {
	return client.ChatRequest{Messages: []client.Message{client.Text("user", text)}}
}

// mustHealthy asserts /healthz answers 200 and a normal chat succeeds.
func mustHealthy(ctx context.Context, c *client.Client) error {
	if _, resp, err := c.Health(ctx); err != nil {
		return fmt.Errorf("/healthz: %v", err)
	} else if resp.Status != http.StatusOK {
		return fmt.Errorf("/healthz status %d", resp.Status)
	}
	out, _, err := c.Chat(ctx, userChat("are you still there?"))
	if err != nil {
		return fmt.Errorf("normal chat: %v", err)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content == nil || *out.Choices[0].Message.Content == "" {
		return fmt.Errorf("normal chat returned no content: %+v", out)
	}
	return nil
}
