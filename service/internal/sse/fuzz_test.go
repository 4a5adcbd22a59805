package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/testkit"
)

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n",
		"data: a\ndata: b\n\n",
		": keep-alive\n\ndata: x\n\n",
		"event: error\r\ndata: {\"error\":{\"message\":\"m\"}}\r\n\r\n",
		"data: [DONE]\n\n",
		"data: {\"a\"",
		"data\n\n",
		"event: e\n\nevent\ndata:x\n\n",
		"\r\n\r\n\n\r",
		"data:" + strings.Repeat("x", 20000) + "\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		type event struct{ name, data string }
		var events []event
		var err error
		testkit.Bounded(t, 5*time.Second, func() {
			r := NewReader(bytes.NewReader(in))
			for {
				var ev Event
				ev, err = r.Next()
				if err != nil {
					return
				}
				if len(events) > len(in) {
					err = errors.New("more events than input bytes")
					return
				}
				events = append(events, event{ev.Name, string(ev.Data)})
			}
		})
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrEventTooLarge):
		default:
			t.Fatalf("Next ended with %v, want io.EOF, io.ErrUnexpectedEOF or ErrEventTooLarge", err)
		}
		for _, ev := range events {
			if len(ev.data) > MaxEventBytes {
				t.Fatalf("an event of %d bytes passed the %d cap", len(ev.data), MaxEventBytes)
			}
		}
		// Events the writer can express (one line each) survive a write and a read unchanged.
		var buf bytes.Buffer
		var want []event
		for _, ev := range events {
			if strings.ContainsAny(ev.data, "\r\n") || strings.ContainsAny(ev.name, "\r\n") {
				continue
			}
			want = append(want, ev)
			if err := WriteEvent(&buf, ev.name, []byte(ev.data)); err != nil {
				t.Fatal(err)
			}
		}
		r := NewReader(&buf)
		for i, w := range want {
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("rereading event %d: %v", i, err)
			}
			if ev.Name != w.name || string(ev.Data) != w.data {
				t.Fatalf("event %d reread as %q %q, want %q %q", i, ev.Name, ev.Data, w.name, w.data)
			}
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the rewritten events: %v, want io.EOF", err)
		}
	})
}
