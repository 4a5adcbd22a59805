package reliability

import "aiservice/harness/otlp"

// spanText is one searchable string of a span and where it came from.
type spanText struct {
	where string
	text  string
}

// spanTexts returns every string the exports carry: resource and span attributes, span names,
// status messages, events and their attributes, links' trace state.
func spanTexts(o *otlp.Receiver) (out []spanText, spans int) {
	for _, rs := range o.Resources() {
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
