package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestContentRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string // the message's content JSON
		want     Content
		wantJSON string // what the content re-encodes to
	}{
		{"string", `"hello"`, Content{Text: "hello", Set: true}, `"hello"`},
		{"empty string", `""`, Content{Set: true}, `""`},
		{"null", `null`, Content{Null: true, Set: true}, `null`},
		{
			"parts keep their raw array and concatenate the text parts",
			`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"b"}]`,
			Content{Text: "ab", Parts: json.RawMessage(`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"b"}]`), Set: true},
			`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"b"}]`,
		},
		{"empty parts", `[]`, Content{Parts: json.RawMessage(`[]`), Set: true}, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := json.Unmarshal([]byte(`{"role":"user","content":`+tc.in+`}`), &m); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(m.Content, tc.want) {
				t.Fatalf("content = %#v, want %#v", m.Content, tc.want)
			}
			b, err := json.Marshal(m.Content)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if string(b) != tc.wantJSON {
				t.Fatalf("re-encoded %s, want %s", b, tc.wantJSON)
			}
			// A second decode of the re-encoded form gives the same value.
			var again Content
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatalf("second unmarshal: %v", err)
			}
			if !reflect.DeepEqual(again, m.Content) {
				t.Fatalf("second decode %#v differs from first %#v", again, m.Content)
			}
		})
	}
}

func TestContentAbsent(t *testing.T) {
	var m Message
	if err := json.Unmarshal([]byte(`{"role":"assistant","tool_calls":[]}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Content.Set || m.Content.Null {
		t.Errorf("absent content decoded as %#v, want the zero value (Set false)", m.Content)
	}
	if !TextContent("").Set {
		t.Error("TextContent must mark the content as set")
	}
}

func TestContentRejects(t *testing.T) {
	for _, in := range []string{
		`42`, `true`, `{"type":"text"}`,
		`[{"text":"no type"}]`, // every part needs a type
		`["not an object"]`,
		`[1]`,
	} {
		var c Content
		if err := json.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("content %s: accepted as %#v, want an error", in, c)
		}
	}
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    *Stop
		wantErr bool
	}{
		{in: `{"stop":"END"}`, want: &Stop{"END"}},
		{in: `{"stop":["a","b"]}`, want: &Stop{"a", "b"}},
		{in: `{"stop":[]}`, want: &Stop{}},
		{in: `{"stop":null}`, want: nil},
		{in: `{}`, want: nil},
		{in: `{"stop":5}`, wantErr: true},
		{in: `{"stop":[1,2]}`, wantErr: true},
		{in: `{"stop":{"a":1}}`, wantErr: true},
	} {
		var r ChatRequest
		err := json.Unmarshal([]byte(tc.in), &r)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: accepted %v, want an error", tc.in, r.Stop)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(r.Stop, tc.want) {
			t.Errorf("%s: stop = %v, want %v", tc.in, r.Stop, tc.want)
		}
	}
	// A single string is re-encoded as an array, which every OpenAI-compatible upstream accepts.
	b, _ := json.Marshal(ChatRequest{Stop: &Stop{"END"}})
	var back ChatRequest
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Stop, &Stop{"END"}) {
		t.Errorf("stop round trip via %s gave %v, %v", b, back.Stop, err)
	}
}

func TestChatRequestRoundTrip(t *testing.T) {
	in := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},` +
		`{"role":"user","content":[{"type":"text","text":"hi"}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"calculator","arguments":"{}"}}]},` +
		`{"role":"tool","content":"4","tool_call_id":"c1"}],` +
		`"temperature":0,"max_tokens":10,"stop":["x"],"tools":[{"type":"function","function":{"name":"calculator"}}],` +
		`"tool_choice":"auto","stream":true,"stream_options":{"include_usage":true}}`
	var a ChatRequest
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if a.Temperature == nil || *a.Temperature != 0 {
		t.Errorf("temperature 0 must stay present, got %v", a.Temperature)
	}
	b, err := json.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	var c ChatRequest
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, c) {
		t.Errorf("round trip changed the request:\n first %+v\nsecond %+v", a, c)
	}
}

func TestMaxOutputTokens(t *testing.T) {
	one, two := 1, 2
	for _, tc := range []struct {
		name string
		r    ChatRequest
		want int
	}{
		{"none", ChatRequest{}, 0},
		{"max_tokens", ChatRequest{MaxTokens: &one}, 1},
		{"max_completion_tokens wins", ChatRequest{MaxTokens: &one, MaxCompletionTokens: &two}, 2},
	} {
		if got := tc.r.MaxOutputTokens(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestImageCount(t *testing.T) {
	three := 3
	if n := (&ImageRequest{}).Count(); n != 1 {
		t.Errorf("default count %d, want 1", n)
	}
	if n := (&ImageRequest{N: &three}).Count(); n != 3 {
		t.Errorf("count %d, want 3", n)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w, h int
		ok   bool
	}{
		{"", 1024, 1024, true},
		{"auto", 1024, 1024, true},
		{"256x256", 256, 256, true},
		{"1792x1024", 1792, 1024, true},
		{"1x4096", 1, 4096, true},
		{"0x10", 0, 0, false},
		{"4097x1", 0, 0, false},
		{"-5x5", 0, 0, false},
		{"1024", 0, 0, false},
		{"axb", 0, 0, false},
		{"1024X1024", 0, 0, false},
	} {
		w, h, ok := ParseSize(tc.in)
		if w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("ParseSize(%q) = %d, %d, %v; want %d, %d, %v", tc.in, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}
