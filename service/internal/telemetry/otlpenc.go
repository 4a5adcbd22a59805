package telemetry

import (
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// appendExportRequest appends spans as an OTLP ExportTraceServiceRequest in protobuf, the same
// message the official exporter builds (grouped by resource, then instrumentation scope, in
// order of first appearance) but written straight into buf: building the intermediate protobuf
// structs and marshalling them was half of what tracing cost the gateway.
func appendExportRequest(buf []byte, spans []sdktrace.ReadOnlySpan) []byte {
	type group struct {
		res    *resource.Resource
		scopes []instrumentation.Scope
		spans  [][]sdktrace.ReadOnlySpan // per scope
	}
	var groups []*group
	for _, s := range spans {
		if s == nil {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.res == s.Resource() || x.res.Equivalent() == s.Resource().Equivalent() {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{res: s.Resource()}
			groups = append(groups, g)
		}
		scope, i := s.InstrumentationScope(), 0
		for i < len(g.scopes) && g.scopes[i] != scope {
			i++
		}
		if i == len(g.scopes) {
			g.scopes = append(g.scopes, scope)
			g.spans = append(g.spans, nil)
		}
		g.spans[i] = append(g.spans[i], s)
	}
	for _, g := range groups {
		rs := beginMessage(&buf, 1) // resource_spans
		if g.res != nil {
			r := beginMessage(&buf, 1) // resource
			for it := g.res.Iter(); it.Next(); {
				appendKeyValue(&buf, 1, it.Attribute())
			}
			endMessage(&buf, r)
		}
		for i, scope := range g.scopes {
			ss := beginMessage(&buf, 2) // scope_spans
			if scope != (instrumentation.Scope{}) {
				sc := beginMessage(&buf, 1)
				appendString(&buf, 1, scope.Name)
				appendString(&buf, 2, scope.Version)
				for it := scope.Attributes.Iter(); it.Next(); {
					appendKeyValue(&buf, 3, it.Attribute())
				}
				endMessage(&buf, sc)
			}
			for _, s := range g.spans[i] {
				appendSpan(&buf, s)
			}
			appendString(&buf, 3, scope.SchemaURL)
			endMessage(&buf, ss)
		}
		if g.res != nil {
			appendString(&buf, 3, g.res.SchemaURL())
		}
		endMessage(&buf, rs)
	}
	return buf
}

// appendSpan writes one Span (field 2 of ScopeSpans).
func appendSpan(b *[]byte, s sdktrace.ReadOnlySpan) {
	m := beginMessage(b, 2)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	appendBytes(b, 1, tid[:])
	appendBytes(b, 2, sid[:])
	appendString(b, 3, sc.TraceState().String())
	if psid := s.Parent().SpanID(); psid.IsValid() {
		appendBytes(b, 4, psid[:])
	}
	appendString(b, 5, s.Name())
	appendVarint(b, 6, uint64(spanKind(s.SpanKind())))
	appendFixed64(b, 7, unixNano(s.StartTime().UnixNano()))
	appendFixed64(b, 8, unixNano(s.EndTime().UnixNano()))
	for _, kv := range s.Attributes() {
		appendKeyValue(b, 9, kv)
	}
	appendVarint(b, 10, clampUint32(s.DroppedAttributes()))
	for _, e := range s.Events() {
		em := beginMessage(b, 11)
		appendFixed64(b, 1, unixNano(e.Time.UnixNano()))
		appendString(b, 2, e.Name)
		for _, kv := range e.Attributes {
			appendKeyValue(b, 3, kv)
		}
		appendVarint(b, 4, clampUint32(e.DroppedAttributeCount))
		endMessage(b, em)
	}
	appendVarint(b, 12, clampUint32(s.DroppedEvents()))
	for _, l := range s.Links() {
		lm := beginMessage(b, 13)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		appendBytes(b, 1, ltid[:])
		appendBytes(b, 2, lsid[:])
		for _, kv := range l.Attributes {
			appendKeyValue(b, 4, kv)
		}
		appendVarint(b, 5, clampUint32(l.DroppedAttributeCount))
		appendFixed32(b, 6, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		endMessage(b, lm)
	}
	appendVarint(b, 14, clampUint32(s.DroppedLinks()))
	// Status is always present, as the official exporter sends it (even when unset).
	st := s.Status()
	sm := beginMessage(b, 15)
	appendString(b, 2, st.Description)
	appendVarint(b, 3, uint64(statusCode(st.Code)))
	endMessage(b, sm)
	appendFixed32(b, 16, spanFlags(sc.TraceFlags(), s.Parent()))
	endMessage(b, m)
}

// appendKeyValue writes a KeyValue as field num.
func appendKeyValue(b *[]byte, num protowire.Number, kv attribute.KeyValue) {
	m := beginMessage(b, num)
	appendString(b, 1, string(kv.Key))
	appendAnyValue(b, 2, kv.Value)
	endMessage(b, m)
}

// appendAnyValue writes an AnyValue as field num, mapping types as the official exporter does.
func appendAnyValue(b *[]byte, num protowire.Number, v attribute.Value) {
	m := beginMessage(b, num)
	switch v.Type() {
	case attribute.BOOL:
		*b = protowire.AppendTag(*b, 2, protowire.VarintType)
		*b = protowire.AppendVarint(*b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		*b = protowire.AppendTag(*b, 3, protowire.VarintType)
		*b = protowire.AppendVarint(*b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		*b = protowire.AppendTag(*b, 4, protowire.Fixed64Type)
		*b = protowire.AppendFixed64(*b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		*b = protowire.AppendTag(*b, 1, protowire.BytesType)
		*b = protowire.AppendString(*b, v.AsString())
	case attribute.BYTESLICE:
		*b = protowire.AppendTag(*b, 7, protowire.BytesType)
		*b = protowire.AppendBytes(*b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		appendArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		appendArray(b, v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.MAP:
		kvl := beginMessage(b, 6)
		for _, kv := range v.AsMap() {
			appendKeyValue(b, 1, kv)
		}
		endMessage(b, kvl)
	case attribute.EMPTY:
	default:
		*b = protowire.AppendTag(*b, 1, protowire.BytesType)
		*b = protowire.AppendString(*b, "INVALID")
	}
	endMessage(b, m)
}

// appendArray writes an ArrayValue (field 5 of AnyValue).
func appendArray[T any](b *[]byte, vals []T, value func(T) attribute.Value) {
	arr := beginMessage(b, 5)
	for _, x := range vals {
		appendAnyValue(b, 1, value(x))
	}
	endMessage(b, arr)
}

// beginMessage starts an embedded message as field num and returns where its one-byte length
// placeholder is; endMessage fills it in, making room when the length needs more bytes. Most
// messages here (attributes, values) are shorter than 128 bytes, so the body rarely moves.
func beginMessage(b *[]byte, num protowire.Number) int {
	*b = protowire.AppendTag(*b, num, protowire.BytesType)
	*b = append(*b, 0)
	return len(*b) - 1
}

func endMessage(b *[]byte, at int) {
	n := len(*b) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size == 1 {
		(*b)[at] = byte(n)
		return
	}
	*b = append(*b, make([]byte, size-1)...)
	copy((*b)[at+size:], (*b)[at+1:at+1+n])
	protowire.AppendVarint((*b)[:at], uint64(n))
}

// The scalar helpers skip default values, as proto3 marshalling does.
func appendString(b *[]byte, num protowire.Number, s string) {
	if s != "" {
		*b = protowire.AppendTag(*b, num, protowire.BytesType)
		*b = protowire.AppendString(*b, s)
	}
}

func appendBytes(b *[]byte, num protowire.Number, v []byte) {
	if len(v) > 0 {
		*b = protowire.AppendTag(*b, num, protowire.BytesType)
		*b = protowire.AppendBytes(*b, v)
	}
}

func appendVarint(b *[]byte, num protowire.Number, v uint64) {
	if v != 0 {
		*b = protowire.AppendTag(*b, num, protowire.VarintType)
		*b = protowire.AppendVarint(*b, v)
	}
}

func appendFixed64(b *[]byte, num protowire.Number, v uint64) {
	if v != 0 {
		*b = protowire.AppendTag(*b, num, protowire.Fixed64Type)
		*b = protowire.AppendFixed64(*b, v)
	}
}

func appendFixed32(b *[]byte, num protowire.Number, v uint32) {
	if v != 0 {
		*b = protowire.AppendTag(*b, num, protowire.Fixed32Type)
		*b = protowire.AppendFixed32(*b, v)
	}
}

func unixNano(ns int64) uint64 { return uint64(max(0, ns)) }

func clampUint32(v int) uint64 { return uint64(min(max(v, 0), math.MaxUint32)) }

// spanFlags are the W3C trace flags plus the OTLP bits saying whether the parent is remote.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	const hasIsRemote, isRemote = 0x100, 0x200 // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, _IS_REMOTE_MASK
	flags := uint32(tf) | hasIsRemote
	if parent.IsRemote() {
		flags |= isRemote
	}
	return flags
}

// spanKind and statusCode map to the OTLP enum numbers.
func spanKind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer:
		return int(k) // 1..5 in both
	}
	return 0
}

func statusCode(c codes.Code) int {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	}
	return 0
}
