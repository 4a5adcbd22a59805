package provider

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"aiservice/service/internal/wire"
)

// spanText is the text a span covers, "" when the field is absent.
func spanText(b []byte, s wire.Span) string {
	if !s.Found() {
		return ""
	}
	return string(b[s.Start:s.End])
}

// TestReadCompletionSpans: what the one scan hands the gateway — the spans it patches and the
// usage it prices — for the shapes upstreams send.
func TestReadCompletionSpans(t *testing.T) {
	const choice = `{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}`
	for _, tc := range []struct {
		name                  string
		body                  string
		model, usage, choices string      // the text of each span, "" for absent
		parsed                *wire.Usage // nil: no usage
	}{
		{"all three", `{"id":"c","object":"chat.completion","model":"gpt-4o","choices":[` + choice + `],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
			`"gpt-4o"`, `{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}`, `[` + choice + `]`,
			&wire.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}},
		{"no model, no object", `{"choices":[` + choice + `],"usage":{"prompt_tokens":1}}`,
			"", `{"prompt_tokens":1}`, `[` + choice + `]`, &wire.Usage{PromptTokens: 1}},
		{"no usage", `{"model":"m","choices":[{}]}`, `"m"`, "", `[{}]`, nil},
		{"usage null", `{"model":"m","usage":null,"choices":[{}]}`, `"m"`, "null", `[{}]`, nil},
		{"escaped model name", `{"model":"gpt-4o\u002dmini \"x\"","choices":[{}]}`, `"gpt-4o\u002dmini \"x\""`, "", `[{}]`, nil},
		{"escaped object name", `{"object":"chat\u002ecompletion","model":"m","choices":[{}]}`, `"m"`, "", `[{}]`, nil},
		{"escaped keys", `{"mod\u0065l":"m","usag\u0065":{"total_tokens":7},"choices":[{}]}`, `"m"`, `{"total_tokens":7}`, `[{}]`,
			&wire.Usage{TotalTokens: 7}},
		{"first of repeated keys", `{"model":"a","model":"b","choices":[{}]}`, `"a"`, "", `[{}]`, nil},
		{"cached tokens", `{"choices":[{}],"usage":{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}`,
			"", `{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}`, `[{}]`,
			&wire.Usage{PromptTokens: 10, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 4}}},
		{"more choices than the stack buffer", `{"choices":[` + strings.Repeat(`{},`, 11) + `{}]}`,
			"", "", `[` + strings.Repeat(`{},`, 11) + `{}]`, nil},
		{"whitespace around", " \n{ \"model\" : \"m\" , \"choices\" : [ {} ] }\n", `"m"`, "", `[ {} ]`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.body)
			c, err := ReadCompletion(b)
			if err != nil {
				t.Fatal(err)
			}
			if &c.Body[0] != &b[0] || len(c.Body) != len(b) {
				t.Error("the body is not the bytes read")
			}
			for _, f := range []struct {
				name      string
				got, want string
			}{
				{"model", spanText(b, c.Model), tc.model},
				{"usage", spanText(b, c.Usage), tc.usage},
				{"choices", spanText(b, c.Choices), tc.choices},
			} {
				if f.got != f.want {
					t.Errorf("%s span covers %q, want %q", f.name, f.got, f.want)
				}
			}
			got, _ := json.Marshal(c.Parsed)
			want, _ := json.Marshal(tc.parsed)
			if string(got) != string(want) {
				t.Errorf("usage %s, want %s", got, want)
			}
		})
	}
}

// TestReadCompletionRefuses: what is not a chat completion is an InvalidError (a 502), with
// the reason.
func TestReadCompletionRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not JSON", `<html>`, "upstream sent an invalid chat completion"},
		{"truncated", `{"choices":[{}]`, "upstream sent an invalid chat completion"},
		{"an array", `[{"choices":[{}]}]`, "upstream sent an invalid chat completion"},
		{"another object", `{"object":"list","choices":[{}]}`, "object is not chat.completion"},
		{"object not a string", `{"object":1,"choices":[{}]}`, "object is not chat.completion"},
		{"no choices", `{"object":"chat.completion"}`, "no choices"},
		{"choices null", `{"choices":null}`, "no choices"},
		{"choices an object", `{"choices":{"0":{}}}`, "no choices"},
		{"empty choices", `{"choices":[]}`, "no choices"},
		{"a choice not an object", `{"choices":[{},"x"]}`, "a choice is not an object"},
		{"negative usage", `{"choices":[{}],"usage":{"prompt_tokens":-1}}`, "usage is not plausible"},
		{"absurd usage", `{"choices":[{}],"usage":{"total_tokens":100000001}}`, "usage is not plausible"},
		{"absurd cached tokens", `{"choices":[{}],"usage":{"prompt_tokens_details":{"cached_tokens":-5}}}`, "usage is not plausible"},
		{"fractional count", `{"choices":[{}],"usage":{"prompt_tokens":1.5}}`, "usage is not plausible"},
		{"usage not an object", `{"choices":[{}],"usage":5}`, "usage is not plausible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadCompletion([]byte(tc.body))
			var ie *InvalidError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want an InvalidError saying %q", err, tc.want)
			}
			if c.Body != nil || c.Parsed != nil {
				t.Errorf("a refused answer came with %+v", c)
			}
		})
	}
}

// FuzzReadCompletion: any upstream body is refused as an InvalidError or accepted with spans
// that are exactly the top-level fields — never a panic, never a span outside the body.
func FuzzReadCompletion(f *testing.F) {
	for _, s := range []string{
		realisticCompletion,
		`{"object":"chat.completion","model":"m","choices":[{}],"usage":null}`,
		`{"mod\u0065l":"m","choices":[{},{}],"usage":{"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"object":"chat\u002ecompletion","choices":[{}]}`,
		`{"choices":[],"usage":{"prompt_tokens":-1}}`,
		`{"choices":[1]}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ReadCompletion(b)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ReadCompletion = %v, want an InvalidError", err)
			}
			return
		}
		fs, ferr := wire.ObjectFields(b, "object", "model", "usage", "choices")
		if ferr != nil {
			t.Fatalf("accepted a body that is not a JSON object: %q", b)
		}
		if c.Model != fs[1] || c.Usage != fs[2] || c.Choices != fs[3] {
			t.Fatalf("spans %v %v %v, want %v", c.Model, c.Usage, c.Choices, fs[1:])
		}
		if o := fs[0]; o.Found() {
			if obj, _ := wire.UnquoteString(b[o.Start:o.End]); obj != "chat.completion" {
				t.Fatalf("accepted object %s", b[o.Start:o.End])
			}
		}
		elems, aerr := wire.ArrayElements(b[c.Choices.Start:c.Choices.End])
		if aerr != nil || len(elems) == 0 {
			t.Fatalf("accepted choices %s", b[c.Choices.Start:c.Choices.End])
		}
		null := !c.Usage.Found() || spanText(b, c.Usage) == "null"
		if null != (c.Parsed == nil) || c.Parsed != nil && !plausible(c.Parsed) {
			t.Fatalf("usage %s parsed as %+v", spanText(b, c.Usage), c.Parsed)
		}
	})
}

// realisticCompletion is an answer of the size the profiled pipeline sees (about 1.5 KB),
// with the fields OpenAI sends.
var realisticCompletion = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,` +
	`"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"` +
	strings.Repeat(`A gateway keeps \"one\" scan per answer, and reads only what it patches. `, 18) +
	`","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":412,"completion_tokens":286,"total_tokens":698,` +
	`"prompt_tokens_details":{"cached_tokens":128,"audio_tokens":0},` +
	`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_06737a9306"}`

// BenchmarkReadCompletion is the check every non-streaming answer goes through, on a
// realistic answer with usage.
func BenchmarkReadCompletion(b *testing.B) {
	body := []byte(realisticCompletion)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if c, err := ReadCompletion(body); err != nil || c.Parsed == nil {
			b.Fatal(err)
		}
	}
}
