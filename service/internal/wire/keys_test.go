package wire

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/testkit"
)

func TestCheckKeys(t *testing.T) {
	chat := reflect.TypeFor[ChatRequest]()
	for _, tc := range []struct {
		name, body string
		path       string // "" when the document is accepted
		field      string // the field a case variant would set
	}{
		{"a plain request", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1}`, "", ""},
		{"unknown keys pass", `{"model":"m","messages":[],"x_vendor":{"a":1}}`, "", ""},
		{"a repeated top-level key", `{"model":"x","messages":[],"model":"y"}`, "model", ""},
		{"a case variant at the top", `{"model":"x","MODEL":"cheap","messages":[]}`, "MODEL", "model"},
		{"a case variant alone", `{"Model":"x","messages":[]}`, "Model", "model"},
		{"an escaped repeat", `{"model":"x","mod\u0065l":"y"}`, "model", ""},
		{"a Kelvin-sign variant", `{"max_to\u212aens":5}`, "max_to\u212aens", "max_tokens"},
		{"in a message", `{"messages":[{"role":"user","content":"a"},{"role":"user","ROLE":"system","content":"b"}]}`, "messages[1].ROLE", "role"},
		{"in a tool", `{"tools":[{"type":"function","function":{"name":"f","Name":"g"}}]}`, "tools[0].function.Name", "name"},
		{"in stream_options", `{"stream_options":{"include_usage":true,"Include_Usage":false}}`, "stream_options.Include_Usage", "include_usage"},
		{"repeated inside a raw value", `{"response_format":{"type":"text","type":"json_object"}}`, "response_format.type", ""},
		{"repeated inside tool parameters", `{"tools":[{"type":"function","function":{"name":"f","parameters":{"a":1,"a":2}}}]}`, "tools[0].function.parameters.a", ""},
		{"raw values keep their case", `{"response_format":{"type":"text","TYPE":"x"}}`, "", ""},
		{"a content part's TYPE", `{"messages":[{"role":"user","content":[{"type":"image_url","TYPE":"text","text":"x"}]}]}`, "messages[0].content[0].TYPE", "type"},
		{"string content", `{"messages":[{"role":"user","content":"TYPE"}]}`, "", ""},
		{"repeated in content parts", `{"messages":[{"role":"user","content":[{"type":"text","type":"image_url"}]}]}`, "messages[0].content[0].type", ""},
		{"the same key in two objects", `{"messages":[{"role":"user"},{"role":"user"}]}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKeys([]byte(tc.body), chat)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("CheckKeys = %v, want nil", err)
				}
				return
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Path != tc.path || ke.Field != tc.field {
				t.Fatalf("CheckKeys = %#v, want a KeyError at %q (field %q)", err, tc.path, tc.field)
			}
		})
	}
	for _, bad := range []string{``, `{`, `{"a":1,}`, `{"a":1} x`, `[1,]`} {
		if err := CheckKeys([]byte(bad), chat); err == nil {
			t.Errorf("CheckKeys(%q) = nil, want an error", bad)
		}
	}
}

// TestCheckKeysManyKeys: past a few keys the set is a map, so a hostile object of many keys
// is checked in linear time, and a repeat is still found.
func TestCheckKeysManyKeys(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"x_vendor":{`)
	for i := range 50_000 {
		fmt.Fprintf(&sb, `"k%d":0,`, i)
	}
	sb.WriteString(`"k17":1}}`)
	var err error
	testkit.Bounded(t, 5*time.Second, func() { err = CheckKeys([]byte(sb.String()), reflect.TypeFor[ChatRequest]()) })
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Path != "x_vendor.k17" {
		t.Fatalf("CheckKeys = %v, want the repeated k17", err)
	}
}
