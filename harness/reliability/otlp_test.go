package reliability

import (
	"io"
	"net/http"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a minimal OTLP/HTTP trace receiver: it keeps every export's raw bytes (to
// search them whole) and the decoded resource spans (to search attribute by attribute).
type otlpReceiver struct {
	mu        sync.Mutex
	raw       [][]byte
	resources []*tracepb.ResourceSpans
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// spanText is one searchable string of a span and where it came from.
type spanText struct {
	where string
	text  string
}

// texts returns every string the exports carry: resource and span attributes, span names,
// status messages, events and their attributes, links' trace state.
func (o *otlpReceiver) texts() (out []spanText, spans int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range o.resources {
		for _, a := range rs.GetResource().GetAttributes() {
			out = append(out, spanText{"resource attribute " + a.Key, a.GetValue().String()})
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				spans++
				out = append(out, spanText{"span name", s.Name}, spanText{"status of " + s.Name, s.GetStatus().GetMessage()},
					spanText{"trace state of " + s.Name, s.TraceState})
				for _, a := range s.Attributes {
					out = append(out, spanText{s.Name + " attribute " + a.Key, a.GetValue().String()})
				}
				for _, ev := range s.Events {
					out = append(out, spanText{s.Name + " event", ev.Name})
					for _, a := range ev.Attributes {
						out = append(out, spanText{s.Name + " event " + ev.Name + " attribute " + a.Key, a.GetValue().String()})
					}
				}
				for _, l := range s.Links {
					out = append(out, spanText{s.Name + " link trace state", l.TraceState})
				}
			}
		}
	}
	return out, spans
}

func (o *otlpReceiver) rawExports() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.raw...)
}
