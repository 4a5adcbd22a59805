package wire

import (
	"encoding/json"
	"testing"
)

const (
	completion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"A reasonably long answer with \"quotes\" and words, words, words."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":44,"total_tokens":53}}`
	chunk      = `{"id":"chatcmpl-sim276b42eaef6322e3","object":"chat.completion.chunk","created":1795749726,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"upstream metric response "},"finish_reason":null}]}`
)

// BenchmarkObjectFields is the scan that replaces decoding a whole upstream answer.
func BenchmarkObjectFields(b *testing.B) {
	body := []byte(completion)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		f, err := ObjectFields(body, "model", "usage", "choices")
		if err != nil || !f[1].Found() {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan puts the strict scan next to what it replaces: json.Valid, which callers
// ran on every stream chunk before the scan, and that pair together. The keys are the ones
// the gateway asks of each kind of document.
func BenchmarkScan(b *testing.B) {
	for _, doc := range []struct {
		name string
		body []byte
		keys []string
	}{
		{"completion", []byte(completion), []string{"model", "usage", "choices"}},
		{"chunk", []byte(chunk), []string{"id", "created", "model", "choices", "usage"}},
	} {
		body, keys := doc.body, doc.keys
		run := func(name string, f func() bool) {
			b.Run(doc.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if !f() {
						b.Fatal("rejected")
					}
				}
			})
		}
		run("JSONValid", func() bool { return json.Valid(body) })
		run("JSONValid+ObjectFields", func() bool {
			if !json.Valid(body) {
				return false
			}
			_, err := ObjectFields(body, keys...)
			return err == nil
		})
		run("ObjectFieldsStrict", func() bool {
			_, err := ObjectFields(body, keys...)
			return err == nil
		})
		run("ObjectFieldsInto", func() bool {
			var f [5]Span
			return ObjectFieldsInto(f[:len(keys)], body, keys...) == nil
		})
		run("Valid", func() bool { return Valid(body) })
	}
}
