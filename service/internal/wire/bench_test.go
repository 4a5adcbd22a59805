package wire

import "testing"

// BenchmarkObjectFields is the scan that replaces decoding a whole upstream answer.
func BenchmarkObjectFields(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"A reasonably long answer with \"quotes\" and words, words, words."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":44,"total_tokens":53}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		f, err := ObjectFields(body, "model", "usage", "choices")
		if err != nil || !f[1].Found() {
			b.Fatal(err)
		}
	}
}
