package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseUsage(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want Usage
	}{
		{`{"prompt_tokens":9,"completion_tokens":44,"total_tokens":53}`, true, Usage{PromptTokens: 9, CompletionTokens: 44, TotalTokens: 53}},
		{`{"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"extra":[1]}`, true,
			Usage{CompletionTokens: 2, PromptTokensDetails: &PromptTokensDetails{CachedTokens: 3}}},
		{`{"prompt_tokens":null,"prompt_tokens_details":null}`, true, Usage{}},
		{`{}`, true, Usage{}},
		{`{"prompt_tokens":1.5}`, false, Usage{}},
		{`{"prompt_tokens":"9"}`, false, Usage{}},
		{`{"prompt_tokens_details":{"cached_tokens":"x"}}`, false, Usage{}},
		{`{"prompt_tokens_details":[]}`, false, Usage{}},
		{`[]`, false, Usage{}},
		{`{"prompt_tokens":9`, false, Usage{}},
	}
	for _, tt := range tests {
		got, ok := ParseUsage([]byte(tt.in))
		if ok != tt.ok || (ok && !reflect.DeepEqual(*got, tt.want)) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseUsage: whatever ParseUsage accepts, json.Unmarshal accepts too and reads the same
// numbers — for objects whose keys are unique and spelled exactly (json.Unmarshal also matches
// keys case-insensitively and lets the last duplicate win; upstreams do neither).
func FuzzParseUsage(f *testing.F) {
	for _, s := range []string{`{"prompt_tokens":9,"completion_tokens":44,"total_tokens":53}`,
		`{"prompt_tokens_details":{"cached_tokens":3}}`, `{"prompt_tokens":-1e3}`, `{"total_tokens":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := ParseUsage(b)
		if !ok {
			return
		}
		var want Usage
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("ParseUsage accepted %q, json.Unmarshal: %v", b, err)
		}
		if plainKeys(json.NewDecoder(bytes.NewReader(b))) && !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q: ParseUsage %+v, json.Unmarshal %+v", b, *got, want)
		}
	})
}

// plainKeys walks one JSON value and reports whether no object in it repeats a key or has a
// key that equals a Usage key only case-insensitively.
func plainKeys(d *json.Decoder) bool {
	tok, err := d.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('['):
		for d.More() {
			if !plainKeys(d) {
				return false
			}
		}
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return false
			}
			key := k.(string)
			for _, known := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "cached_tokens"} {
				if strings.EqualFold(key, known) && key != known {
					return false
				}
			}
			if seen[key] {
				return false
			}
			seen[key] = true
			if !plainKeys(d) {
				return false
			}
		}
	default:
		return true
	}
	_, err = d.Token() // the closing delimiter
	return err == nil
}
