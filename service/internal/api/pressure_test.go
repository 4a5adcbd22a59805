package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/pressure"
)

// Under memory pressure every POST gets a 503 memory_pressure with Retry-After, before its
// handler (and its body) is touched; GETs (probes, metrics, lists) pass; without pressure all
// pass.
func TestShedOnMemoryPressure(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	tests := []struct {
		name       string
		used       uint64 // of a 100-byte soft limit
		nilMonitor bool
		method     string
		path       string
		want       int
	}{
		{"chat under pressure", 95, false, "POST", "/v1/chat", http.StatusServiceUnavailable},
		{"stream under pressure", 95, false, "POST", "/v1/chat/stream", http.StatusServiceUnavailable},
		{"agent run under pressure", 95, false, "POST", "/v1/agents/:id/runs", http.StatusServiceUnavailable},
		{"models under pressure", 95, false, "GET", "/v1/models", http.StatusOK},
		{"healthz under pressure", 95, false, "GET", "/healthz", http.StatusOK},
		{"readyz under pressure", 95, false, "GET", "/readyz", http.StatusOK},
		{"metrics under pressure", 95, false, "GET", "/metrics", http.StatusOK},
		{"chat without pressure", 50, false, "POST", "/v1/chat", http.StatusOK},
		{"no monitor", 95, true, "POST", "/v1/chat", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{cfg: Options{MaxBodyBytes: 1 << 20}, log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
				m: newHTTPMetrics(prometheus.NewRegistry())}
			var mon *pressure.Monitor
			if !tt.nilMonitor {
				mon = pressure.New(pressure.Options{Read: func() pressure.Sample { return pressure.Sample{Used: tt.used, Limit: 100} }})
			}
			reached := false
			r := gin.New()
			r.Use(s.shedOnMemoryPressure(mon))
			r.Handle(tt.method, tt.path, func(c *gin.Context) { reached = true; c.Status(http.StatusOK) })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{}`)))

			if w.Code != tt.want || reached != (tt.want == http.StatusOK) {
				t.Fatalf("%s %s: status %d, handler reached %v; want %d", tt.method, tt.path, w.Code, reached, tt.want)
			}
			if tt.want != http.StatusServiceUnavailable {
				return
			}
			var b struct {
				Error struct{ Type, Code string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Type != "service_unavailable" || b.Error.Code != "memory_pressure" {
				t.Errorf("body %s (%v), want error service_unavailable/memory_pressure", w.Body, err)
			}
			if ra := w.Header().Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After %q, want \"1\"", ra)
			}
		})
	}
}
