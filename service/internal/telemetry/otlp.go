package telemetry

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
)

// exporterOptions reads the OTEL_EXPORTER_OTLP_* variables that shape the export (headers,
// compression, timeout; the TRACES_ variants win) through the injected getenv, so that tests and
// `aiservice config` see what the process would do, and a malformed value fails the start
// instead of being ignored. What only the exporter itself reads (TLS certificates) it reads
// from the process environment, as its documentation says.
func exporterOptions(getenv func(string) string) ([]otlptracehttp.Option, error) {
	var opts []otlptracehttp.Option
	switch c := traceEnv(getenv, "COMPRESSION"); c {
	case "", "none":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	case "gzip":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION: %q is not gzip or none", c)
	}
	if p := traceEnv(getenv, "PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (http/protobuf is)", p)
	}
	if t := traceEnv(getenv, "TIMEOUT"); t != "" {
		ms, err := strconv.Atoi(t)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT: %q is not a positive number of milliseconds", t)
		}
		opts = append(opts, otlptracehttp.WithTimeout(time.Duration(ms)*time.Millisecond))
	}
	if h := traceEnv(getenv, "HEADERS"); h != "" {
		headers := map[string]string{}
		for _, pair := range strings.Split(h, ",") {
			k, v, found := strings.Cut(pair, "=")
			k, kerr := url.PathUnescape(strings.TrimSpace(k))
			v, verr := url.PathUnescape(strings.TrimSpace(v))
			if !found || k == "" || kerr != nil || verr != nil {
				return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %q is not key=value", pair)
			}
			headers[k] = v
		}
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	return opts, nil
}

// traceEnv reads OTEL_EXPORTER_OTLP_TRACES_<name>, else OTEL_EXPORTER_OTLP_<name>.
func traceEnv(getenv func(string) string, name string) string {
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
		return v
	}
	return getenv("OTEL_EXPORTER_OTLP_" + name)
}
