package wire

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The gateway's realistic path, done twice: with the scanner and patcher (what the gateway and
// the provider run on every answer and every stream chunk) and with gjson + sjson doing the same
// work — validate strictly, read the model, usage and finish reasons, patch the public model
// name and cost_usd in. docs/performance.md has the figures (BenchmarkRealisticPath).

// answerOf is a chat completion of about size bytes, as an upstream sends it.
func answerOf(size int) []byte {
	head := `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"`
	tail := `","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":412,"completion_tokens":301,"total_tokens":713,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_06737a9306"}`
	words := `The gateway passes the answer through as bytes, \"quoted\" where it must, and counts it. `
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+len(tail) < size {
		b.WriteString(words)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

const (
	contentChunk = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" words, words"},"logprobs":null,"finish_reason":null}],"usage":null}`
	usageChunk   = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":412,"completion_tokens":301,"total_tokens":713,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`
)

// seen is what one pass read out of a document.
type seen struct {
	out      []byte
	usage    Usage
	finish   []string
	contents int // bytes of delta content
}

var (
	quotedModel = []byte(`"gpt-4o-mini"`)
	costField   = []byte(`0.000216`)
)

// scannerPath is the gateway's: one strict scan for the fields, usage read from its span, the
// finish reasons from the choices' spans, the edits applied in one copy.
func scannerPath(b []byte) (seen, bool) {
	var s seen
	var f [3]Span
	if ObjectFieldsInto(f[:], b, "model", "usage", "choices") != nil {
		return s, false
	}
	if u := f[1]; u.Found() && b[u.Start] == '{' {
		usage, ok := ParseUsage(b[u.Start:u.End])
		if !ok {
			return s, false
		}
		s.usage = *usage
	}
	if ch := f[2]; ch.Found() {
		var buf [4]Span
		elems, _ := ArrayElementsInto(buf[:0], b[ch.Start:ch.End])
		for _, e := range elems {
			el := b[ch.Start+e.Start : ch.Start+e.End]
			var c [3]Span
			if ObjectFieldsInto(c[:], el, "finish_reason", "delta", "message") != nil {
				continue
			}
			if fr := c[0]; fr.Found() && el[fr.Start] == '"' {
				r, _ := UnquoteString(el[fr.Start:fr.End])
				s.finish = append(s.finish, r)
			}
			if d := c[1]; d.Found() && el[d.Start] == '{' {
				var t [1]Span
				if ObjectFieldsInto(t[:], el[d.Start:d.End], "content") == nil && t[0].Found() {
					s.contents += t[0].End - t[0].Start
				}
			}
		}
	}
	edits := []Edit{{At: f[0].Start, End: f[0].End, With: quotedModel}}
	if u := f[1]; u.Found() && b[u.Start] == '{' {
		edits = append(edits, Edit{At: u.Start + 1, End: u.Start + 1, With: append(append([]byte(`"cost_usd":`), costField...), ',')})
	}
	s.out = Apply(b, edits...)
	return s, true
}

// libraryPath does the same with gjson (validate, then read by path) and sjson (each set
// rewrites the document).
func libraryPath(b []byte) (seen, bool) {
	var s seen
	if !gjson.ValidBytes(b) {
		return s, false
	}
	r := gjson.GetManyBytes(b, "model", "usage", "choices")
	if u := r[1]; u.IsObject() {
		for _, kv := range []struct {
			key string
			dst *int
		}{{"prompt_tokens", &s.usage.PromptTokens}, {"completion_tokens", &s.usage.CompletionTokens}, {"total_tokens", &s.usage.TotalTokens}} {
			v := u.Get(kv.key)
			if v.Exists() && v.Type != gjson.Number && v.Type != gjson.Null {
				return s, false
			}
			*kv.dst = int(v.Int())
		}
		if d := u.Get("prompt_tokens_details"); d.IsObject() {
			s.usage.PromptTokensDetails = &PromptTokensDetails{CachedTokens: int(d.Get("cached_tokens").Int())}
		}
	}
	r[2].ForEach(func(_, el gjson.Result) bool {
		if fr := el.Get("finish_reason"); fr.Type == gjson.String {
			s.finish = append(s.finish, fr.String())
		}
		if c := el.Get("delta.content"); c.Exists() {
			s.contents += len(c.Raw)
		}
		return true
	})
	out, err := sjson.SetRawBytes(b, "model", quotedModel)
	if err != nil {
		return s, false
	}
	if r[1].IsObject() {
		if out, err = sjson.SetRawBytes(out, "usage.cost_usd", costField); err != nil {
			return s, false
		}
	}
	s.out = out
	return s, true
}

var realisticDocs = []struct {
	name string
	body []byte
}{
	{"answer-1KB", answerOf(1024)},
	{"answer-2KB", answerOf(2048)},
	{"chunk-content", []byte(contentChunk)},
	{"chunk-usage", []byte(usageChunk)},
}

// TestBothPathsReadTheSame keeps the benchmark honest: the two paths read the same figures and
// produce answers that say the same.
func TestBothPathsReadTheSame(t *testing.T) {
	for _, doc := range realisticDocs {
		t.Run(doc.name, func(t *testing.T) {
			a, okA := scannerPath(doc.body)
			b, okB := libraryPath(doc.body)
			if !okA || !okB {
				t.Fatalf("rejected: scanner %v, library %v", okA, okB)
			}
			if usageText(a.usage) != usageText(b.usage) || !slices.Equal(a.finish, b.finish) || a.contents != b.contents {
				t.Errorf("scanner read %+v %v %d, library %+v %v %d", a.usage, a.finish, a.contents, b.usage, b.finish, b.contents)
			}
			for _, out := range [][]byte{a.out, b.out} {
				if !Valid(out) || gjson.GetBytes(out, "model").String() != "gpt-4o-mini" {
					t.Errorf("patched answer: %s", out)
				}
				if u := gjson.GetBytes(out, "usage"); u.IsObject() && u.Get("cost_usd").Raw != string(costField) {
					t.Errorf("cost_usd not patched in: %s", out)
				}
			}
			if bytes.Equal(a.out, doc.body) {
				t.Error("the scanner's answer was not patched")
			}
		})
	}
	// Both refuse what is not JSON.
	for _, bad := range []string{`{"model":"x",}`, `{"model":"x"`, `{"model":"x"} x`, `{"usage":{"prompt_tokens":1e400x}}`} {
		if _, ok := scannerPath([]byte(bad)); ok {
			t.Errorf("scanner accepted %s", bad)
		}
		if _, ok := libraryPath([]byte(bad)); ok {
			t.Errorf("library accepted %s", bad)
		}
	}
}

func usageText(u Usage) string {
	cached := -1
	if u.PromptTokensDetails != nil {
		cached = u.PromptTokensDetails.CachedTokens
	}
	return fmt.Sprint(u.PromptTokens, u.CompletionTokens, u.TotalTokens, cached)
}

// BenchmarkRealisticPath/DOC/scanner and /gjson+sjson: one document of the realistic profile
// through each.
func BenchmarkRealisticPath(b *testing.B) {
	for _, doc := range realisticDocs {
		for _, p := range []struct {
			name string
			run  func([]byte) (seen, bool)
		}{{"scanner", scannerPath}, {"gjson+sjson", libraryPath}} {
			b.Run(doc.name+"/"+p.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(doc.body)))
				for b.Loop() {
					if _, ok := p.run(doc.body); !ok {
						b.Fatal("rejected")
					}
				}
			})
		}
	}
}
