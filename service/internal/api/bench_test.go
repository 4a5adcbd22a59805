package api

import (
	"testing"

	"aiservice/service/internal/wire"
)

// BenchmarkDecodeChat is the per-request cost of reading a chat body: decode and validate.
func BenchmarkDecodeChat(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":256,"messages":[` +
		`{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Hello, how are you today? Tell me about the weather in Paris."}]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req wire.ChatRequest
		if err := Decode(body, &req); err != nil {
			b.Fatal(err)
		}
		if err := validateChat(&req, "gpt-4o-mini"); err != nil {
			b.Fatal(err)
		}
	}
}
