package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"aiservice/service/internal/wire"
)

// FuzzDecodeAgrees: unmarshal (sonic, falling back to encoding/json) and encoding/json accept the
// same bodies and decode them to the same values, for every request type. A body sonic refuses
// goes to encoding/json, so what this finds is sonic accepting what encoding/json refuses, or
// reading a body differently: the gateway would then read it otherwise than the API promises.
func FuzzDecodeAgrees(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"4"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto"}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":0.5e1,"max_tokens":5,"n":1,"stop":"END","seed":-1,"response_format":{"type":"json_object"}}`,
		`{"model":"claude","max_tokens":64,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"text":{"format":{"type":"json_schema","name":"x","schema":{}}}}`,
		`{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":8}`,
		`{"model":"i","prompt":"a cat","n":1,"size":"256x256"}`,
		`{"agent":"a","input":"hi"}`,
		`{"model":1e400}`, `{"n":1.0}`, `{"n":-0}`, `{"max_tokens":9223372036854775808}`,
		`{"model":"\ud800"}`, "{\"model\":\"\xff\"}", `{"model":"x"} {}`, `{"model":"x"} `, `[]`, `null`, ``,
		`{"Model":"x","MODEL":"y"}`, `{"model":"a","model":"b"}`, `{"messages":{}}`, `{"stream":"true"}`,
	} {
		f.Add([]byte(s))
	}
	// The chat corpus found the decoder's corners before: it seeds this target too.
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecodeChat/*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			if body, ok := corpusBytes(b); ok {
				f.Add(body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rt := range requestTypes {
			fast, std := reflect.New(rt).Interface(), reflect.New(rt).Interface()
			errFast, errStd := unmarshal(body, fast), json.Unmarshal(body, std)
			if (errFast == nil) != (errStd == nil) {
				t.Fatalf("%v: unmarshal says %v, encoding/json says %v, on %q", rt, errFast, errStd, body)
			}
			if errStd == nil && !reflect.DeepEqual(fast, std) {
				t.Fatalf("%v: decoded differently from %q:\nunmarshal     %+v\nencoding/json %+v", rt, body, fast, std)
			}
		}
	})
}

// corpusBytes reads the body of a corpus file of FuzzDecodeChat: its last line, []byte("…").
func corpusBytes(file []byte) ([]byte, bool) {
	lines := strings.Split(strings.TrimSpace(string(file)), "\n")
	lit, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
	if !ok {
		return nil, false
	}
	body, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	return []byte(body), err == nil
}

// BenchmarkDecoders is the decode of a realistic chat body (a 1.3 KB prompt, the middle of the
// bench's realistic profile) by encoding/json and by unmarshal.
func BenchmarkDecoders(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant."},` +
		`{"role":"user","content":"` + strings.Repeat("summarise the report about gateway latency ", 30) + `"}]}`)
	for _, bc := range []struct {
		name string
		f    func([]byte, any) error
	}{{"encoding-json", json.Unmarshal}, {"unmarshal", unmarshal}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var req wire.ChatRequest
				if err := bc.f(body, &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
