package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSetFields(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		fields []Field
		want   string
	}{
		{"replace", `{"model":"a","messages":[]}`, []Field{{"model", []byte(`"b"`)}}, `{"model":"b","messages":[]}`},
		{"add", `{"messages":[] }`, []Field{{"model", []byte(`"b"`)}}, `{"messages":[] ,"model":"b"}`},
		{"add to an empty object", ` { } `, []Field{{"stream", []byte(`true`)}, {"model", []byte(`"m"`)}}, ` { "stream":true,"model":"m"} `},
		{"replace one, add one, keep the unknown", `{"x_vendor":{"k":[1,2]},"stream_options":{"include_usage":false},"model":"a"}`,
			[]Field{{"model", []byte(`"b"`)}, {"stream", []byte(`true`)}, {"stream_options", []byte(`{"include_usage":true}`)}},
			`{"x_vendor":{"k":[1,2]},"stream_options":{"include_usage":true},"model":"b","stream":true}`},
		{"nothing to change", `{"model":"a"}`, []Field{{"model", []byte(`"a"`)}}, `{"model":"a"}`},
		{"first of duplicate keys", `{"model":"a","model":"c"}`, []Field{{"model", []byte(`"b"`)}}, `{"model":"b","model":"c"}`},
		{"whitespace kept", "{\n  \"model\" : \"a\" ,\n  \"n\": 1\n}\n", []Field{{"model", []byte(`"b"`)}}, "{\n  \"model\" : \"b\" ,\n  \"n\": 1\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetFields([]byte(tt.in), tt.fields...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
		})
	}
}

func TestSetFieldsRejectsNonObjects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"s"`, `{"a":1`, `{"a":1}x`} {
		if _, err := SetFields([]byte(in), Field{"model", []byte(`"m"`)}); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
}

func TestSetFieldsDoesNotCopyWhenUnchanged(t *testing.T) {
	in := []byte(`{"model":"a"}`)
	got, _ := SetFields(in, Field{"model", []byte(`"a"`)})
	if &got[0] != &in[0] {
		t.Error("an unchanged object was copied")
	}
}

func TestApply(t *testing.T) {
	got := Apply([]byte("0123456789"), Edit{8, 9, []byte("x")}, Edit{0, 0, []byte("<")}, Edit{2, 5, nil})
	if want := "<01567x9"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := Apply([]byte("ab")); !reflect.DeepEqual(got, []byte("ab")) {
		t.Fatalf("got %q", got)
	}
}
