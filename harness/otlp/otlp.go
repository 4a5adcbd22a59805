// Package otlp is a minimal OTLP/HTTP trace receiver for tests: the service exports to it as it
// would to Jaeger or Tempo, and tests read what arrived — raw export bytes (to search them whole)
// and the decoded resource spans.
package otlp

import (
	"io"
	"net/http"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is an http.Handler for POST /v1/traces with protobuf bodies.
type Receiver struct {
	mu        sync.Mutex
	raw       [][]byte
	resources []*tracepb.ResourceSpans
}

func (o *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "unexpected export "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.raw = append(o.raw, b)
	o.resources = append(o.resources, req.ResourceSpans...)
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// Raw returns every export's bytes.
func (o *Receiver) Raw() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.raw...)
}

// Resources returns the decoded resource spans of every export.
func (o *Receiver) Resources() []*tracepb.ResourceSpans {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), o.resources...)
}

// Spans returns every span received.
func (o *Receiver) Spans() []*tracepb.Span {
	var out []*tracepb.Span
	for _, rs := range o.Resources() {
		for _, ss := range rs.ScopeSpans {
			out = append(out, ss.Spans...)
		}
	}
	return out
}
