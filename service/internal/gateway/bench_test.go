package gateway

import (
	"context"
	"errors"
	"io"
	"testing"
)

// BenchmarkChatRaw is one non-streaming call through the gateway alone (a fake upstream, no
// HTTP): routing, the guard, the attempt, the scan, pricing and the patch.
func BenchmarkChatRaw(b *testing.B) {
	h := newHarness(b, nil)
	req := chat("a")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := h.g.ChatRaw(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChatStream is one stream of three chunks through the gateway alone.
func BenchmarkChatStream(b *testing.B) {
	h := newHarness(b, nil)
	h.on("pa", answer{chunk: []string{
		`{"id":"x","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"hello"}}]}`,
		`{"id":"x","created":1,"model":"up","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]}`,
		`{"id":"x","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`,
	}})
	req := chat("a")
	b.ReportAllocs()
	for b.Loop() {
		st, _, err := h.g.ChatStream(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := st.Next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		_ = st.Close()
	}
}
