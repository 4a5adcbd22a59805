// Package otelcol runs a real OpenTelemetry Collector (tools/otelcol: the core distribution's
// OTLP receiver, batch processor and OTLP/HTTP exporter) as a process on loopback, between the
// service and a test receiver, so tests see what a collector users run makes of the export.
package otelcol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"aiservice/harness/launch"
)

var collector = &launch.Build{Name: "otelcol", Env: "OTELCOL_BIN", Dir: "tools/otelcol", Pkg: ".", Standalone: true}

// Binary returns the collector's path: $OTELCOL_BIN when set, otherwise a build of tools/otelcol
// (its own module, outside go.work) once per test process.
func Binary() (string, error) { return collector.Path() }

// Collector is a running collector process.
type Collector struct {
	// Endpoint is the base URL of its OTLP/HTTP receiver (what the service's --otlp-endpoint takes).
	Endpoint string
	cmd      *exec.Cmd
	logs     bytes.Buffer
	done     chan struct{}
}

// config receives OTLP/HTTP, batches briefly and forwards uncompressed protobuf to the test's
// receiver. The collector's own telemetry is off so that parallel tests share no port.
const config = `receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  otlp_http:
    traces_endpoint: %s/v1/traces
    compression: none
    retry_on_failure:
      enabled: false
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_http]
`

// Start runs a collector that forwards every trace it receives to forwardTo (a base URL serving
// POST /v1/traces) and stops it when the test ends.
func Start(t testing.TB, forwardTo string) *Collector {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, addr, forwardTo), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Collector{Endpoint: "http://" + addr, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "--config", cfg)
	c.cmd.Stdout, c.cmd.Stderr = &c.logs, &c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("collector not ready: %v\n%s", err, c.Logs())
	}
	return c
}

// Logs is what the collector printed (only after it exited, or for a failure message).
func (c *Collector) Logs() string {
	select {
	case <-c.done:
		return c.logs.String()
	default:
		return "(collector still running)"
	}
}

// waitReady polls the receiver with an empty export until it answers 200.
func (c *Collector) waitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/v1/traces", bytes.NewReader(nil))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return errors.New("the collector exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Collector) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// freeAddr is a loopback address with a port nobody listened on a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
