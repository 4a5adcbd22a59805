package api

import (
	"io"
	"strings"
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

// BenchmarkReadAll reads a 2 KB body (the realistic profile's largest prompt) as readJSON does,
// against io.ReadAll, which starts at 512 bytes and grows.
func BenchmarkReadAll(b *testing.B) {
	body := strings.Repeat("x", 2048)
	for _, bc := range []struct {
		name string
		read func(io.Reader) ([]byte, error)
	}{
		{"io.ReadAll", io.ReadAll},
		{"presized", func(r io.Reader) ([]byte, error) { return readAll(r, int64(len(body))) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := bc.read(strings.NewReader(body)); err != nil || len(got) != len(body) {
					b.Fatalf("read %d bytes: %v", len(got), err)
				}
			}
		})
	}
}
