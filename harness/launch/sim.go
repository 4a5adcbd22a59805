package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// SimBehaviour mirrors the simulator's PUT /_sim/behaviour body. Durations are Go strings.
type SimBehaviour struct {
	Latency          string   `json:"latency,omitempty"`
	TimeToFirstToken string   `json:"time_to_first_token,omitempty"`
	InterTokenDelay  string   `json:"inter_token_delay,omitempty"`
	Chunks           int      `json:"chunks,omitempty"`
	ErrorRate        float64  `json:"error_rate,omitempty"`
	ErrorStatus      int      `json:"error_status,omitempty"`
	RetryAfter       string   `json:"retry_after,omitempty"`
	FailNext         int      `json:"fail_next,omitempty"`
	ErrorModels      []string `json:"error_models,omitempty"`
	DropConnection   bool     `json:"drop_connection,omitempty"`
	CutStreamAfter   int      `json:"cut_stream_after,omitempty"`
	OmitUsage        bool     `json:"omit_usage,omitempty"`
	OutputTokens     int      `json:"output_tokens,omitempty"`
	ChatOnly         bool     `json:"chat_only,omitempty"`
}

// SimStats mirrors GET /_sim/stats.
type SimStats struct {
	Requests        int64  `json:"requests"`
	ChatRequests    int64  `json:"chat_requests"`
	StreamRequests  int64  `json:"stream_requests"`
	ImageRequests   int64  `json:"image_requests"`
	InjectedErrors  int64  `json:"injected_errors"`
	Canceled        int64  `json:"canceled"`
	Completed       int64  `json:"completed"`
	InFlight        int64  `json:"in_flight"`
	LastTraceparent string `json:"last_traceparent"`
	LastModel       string `json:"last_model"`
	LastAuthorized  bool   `json:"last_authorized"`
}

// SimControl drives a running simulator's control endpoints.
type SimControl struct{ URL string }

// SetBehaviour replaces the simulator's behaviour.
func (s SimControl) SetBehaviour(ctx context.Context, b SimBehaviour) error {
	body, _ := json.Marshal(b)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.URL+"/_sim/behaviour", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("set sim behaviour: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set sim behaviour: status %d", resp.StatusCode)
	}
	return nil
}

// Stats reads the simulator's counters.
func (s SimControl) Stats(ctx context.Context) (SimStats, error) {
	var st SimStats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/_sim/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("sim stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("sim stats: %w", err)
	}
	return st, nil
}

// Reset zeroes the counters and restores normal behaviour.
func (s SimControl) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/_sim/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sim reset: %w", err)
	}
	resp.Body.Close()
	return nil
}

// UpstreamConfig is a service config YAML that routes every model to an external simulator
// (or any OpenAI-compatible URL), with extra YAML appended.
func UpstreamConfig(baseURL, extra string) string {
	return fmt.Sprintf(`providers:
  - name: upstream
    type: openai
    base_url: %s/v1
models:
  - name: gpt-4o-mini
    provider: upstream
  - name: gpt-4o
    provider: upstream
    fallbacks: [gpt-4o-mini]
  - name: gpt-image-1
    provider: upstream
    kind: image
  - name: text-embedding-3-small
    provider: upstream
    kind: embedding
`, baseURL) + extra
}
