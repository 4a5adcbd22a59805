package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpHTTP exports spans as OTLP/HTTP protobuf, like otlptracehttp, but encodes them straight
// from the SDK's spans into one reused buffer (appendExportRequest). It covers the standard
// variables for headers, compression and timeout; set-ups that need more (TLS client
// certificates, a custom CA, JSON) get the official exporter (see fastOTLPConfig).
type otlpHTTP struct {
	url     string
	headers http.Header
	gzip    bool
	timeout time.Duration
	client  *http.Client
	backoff time.Duration // first wait before a retry (without Retry-After)

	mu      sync.Mutex // the batch processor exports one batch at a time; Shutdown may race
	buf     []byte
	zbuf    bytes.Buffer
	zw      *gzip.Writer
	stopped bool
}

// otlpOptions are what the fast exporter takes from the OTEL_EXPORTER_OTLP_* variables.
type otlpOptions struct {
	headers http.Header
	gzip    bool
	timeout time.Duration
}

// fastOTLPConfig reads the OTEL_EXPORTER_OTLP_* variables the fast exporter honours. ok is
// false when another variable asks for what only the official exporter does.
func fastOTLPConfig(getenv func(string) string) (o otlpOptions, ok bool, err error) {
	for _, v := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		if traceEnv(getenv, v) != "" {
			return o, false, nil
		}
	}
	if p := traceEnv(getenv, "PROTOCOL"); p != "" && p != "http/protobuf" {
		return o, false, nil
	}
	switch c := traceEnv(getenv, "COMPRESSION"); c {
	case "", "none":
	case "gzip":
		o.gzip = true
	default:
		return o, false, nil
	}
	o.timeout = 10 * time.Second
	if t := traceEnv(getenv, "TIMEOUT"); t != "" {
		ms, perr := strconv.Atoi(t)
		if perr != nil || ms <= 0 {
			return otlpOptions{}, false, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT: %q is not a positive number of milliseconds", t)
		}
		o.timeout = time.Duration(ms) * time.Millisecond
	}
	o.headers = http.Header{}
	if h := traceEnv(getenv, "HEADERS"); h != "" {
		for _, pair := range strings.Split(h, ",") {
			k, v, found := strings.Cut(pair, "=")
			k, kerr := url.PathUnescape(strings.TrimSpace(k))
			v, verr := url.PathUnescape(strings.TrimSpace(v))
			if !found || k == "" || kerr != nil || verr != nil {
				return otlpOptions{}, false, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %q is not key=value", pair)
			}
			o.headers.Add(k, v)
		}
	}
	return o, true, nil
}

// traceEnv reads OTEL_EXPORTER_OTLP_TRACES_<name>, else OTEL_EXPORTER_OTLP_<name>.
func traceEnv(getenv func(string) string, name string) string {
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
		return v
	}
	return getenv("OTEL_EXPORTER_OTLP_" + name)
}

func newOTLPHTTP(endpoint string, o otlpOptions) *otlpHTTP {
	headers := o.headers.Clone()
	if headers == nil {
		headers = http.Header{}
	}
	headers.Set("Content-Type", "application/x-protobuf")
	if headers.Get("User-Agent") == "" {
		headers.Set("User-Agent", "aiservice OTLP exporter")
	}
	if o.gzip {
		headers.Set("Content-Encoding", "gzip")
	}
	return &otlpHTTP{url: endpoint, headers: headers, gzip: o.gzip, timeout: o.timeout, backoff: time.Second,
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *otlpHTTP) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errors.New("otlp exporter: export after shutdown")
	}
	e.buf = appendExportRequest(e.buf[:0], spans)
	body := e.buf
	if e.gzip {
		e.zbuf.Reset()
		if e.zw == nil {
			e.zw = gzip.NewWriter(&e.zbuf)
		} else {
			e.zw.Reset(&e.zbuf)
		}
		if _, err := e.zw.Write(body); err != nil {
			return fmt.Errorf("otlp exporter: gzip: %w", err)
		}
		if err := e.zw.Close(); err != nil {
			return fmt.Errorf("otlp exporter: gzip: %w", err)
		}
		body = e.zbuf.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	wait := e.backoff
	for {
		retryAfter, err := e.post(ctx, body)
		if err == nil {
			return nil
		}
		if retryAfter < 0 { // not retryable
			return err
		}
		if retryAfter == 0 {
			retryAfter, wait = wait, min(2*wait, 30*time.Second)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < retryAfter {
			return fmt.Errorf("%w (no time left to retry)", err)
		}
		t := time.NewTimer(retryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// post sends one request. retryAfter is -1 when the failure must not be retried, 0 to retry
// after the exporter's own backoff, or what the server asked for.
func (e *otlpHTTP) post(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("otlp exporter: %w", err)
	}
	req.Header = e.headers.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("otlp exporter: %w", err)
		}
		return 0, fmt.Errorf("otlp exporter: %w", err) // connection refused, reset: retry
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	err = fmt.Errorf("otlp exporter: %s answered %s: %s", e.url, resp.Status, strings.TrimSpace(string(msg)))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			return time.Duration(s) * time.Second, err
		}
		return 0, err
	}
	return -1, err
}

// Shutdown implements sdktrace.SpanExporter: later exports fail, idle connections close.
func (e *otlpHTTP) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	e.client.CloseIdleConnections()
	return ctx.Err()
}
