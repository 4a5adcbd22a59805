package telemetry

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestExporterOptionsRefuseMalformedVariables(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for no error
	}{
		{"defaults", nil, ""},
		{"headers, gzip, timeout", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%20e, X-Team = ai",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, ""},
		{"bad timeout", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"bad headers", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"bad compression", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, "COMPRESSION"},
		{"json", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exporterOptions(env(tc.env))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// The official exporter, configured from the injected environment, sends protobuf to
// /v1/traces with the headers and the compression asked for (the TRACES_ variables win).
func TestExportHonoursTheEnvironment(t *testing.T) {
	type export struct {
		path, team, encoding string
		spans                int
	}
	got := make(chan export, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := 0
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
		got <- export{r.URL.Path, r.Header.Get("X-Team"), r.Header.Get("Content-Encoding"), n}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	tr, err := Setup(context.Background(), Options{ServiceName: "aiservice", Env: "development", OTLPEndpoint: srv.URL, Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS": "X-Team=ai%20gateway", "OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
	})})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(context.Background(), "op")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.path != "/v1/traces" || e.team != "ai gateway" || e.encoding != "gzip" || e.spans != 1 {
			t.Errorf("export %+v, want 1 span to /v1/traces with X-Team and gzip", e)
		}
	default:
		t.Fatal("nothing was exported")
	}
}
