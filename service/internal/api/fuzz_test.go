package api

// Fuzz targets for every request decoder that reads untrusted bytes: the chat (and stream),
// images and agent-run bodies, and the Authorization header. Properties: no panic, bounded time,
// every failure is a typed 4xx (never Internal), and a body that decodes and validates is stable
// under re-encoding (the gateway forwards what it decoded).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/testkit"
	"aiservice/service/internal/wire"
)

// fuzzMaxBody is a small body cap so the fuzzer can reach the 413 path.
const fuzzMaxBody = 8 << 10

// decodeBody runs the API's body decoding on a request with the given Content-Type and body,
// behind the same kind of size cap the server sets.
func decodeBody(t *testing.T, contentType string, body []byte, v any) error {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/fuzz", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(w, r.Body, fuzzMaxBody)
	var err error
	testkit.Bounded(t, 5*time.Second, func() { err = decodeJSON(w, r, v) })
	return err
}

// clientError fails the test unless err is one of the typed 4xx errors a bad body may cause.
func clientError(t *testing.T, err error) {
	t.Helper()
	e := apperr.From(err)
	switch e.Kind {
	case apperr.InvalidRequest, apperr.PayloadTooLarge, apperr.UnsupportedMediaType:
	default:
		t.Fatalf("error kind %v (%v), want invalid_request / payload too large / unsupported media type", e.Kind, err)
	}
	if s := statusOf(e.Kind); s < 400 || s > 499 {
		t.Fatalf("status %d for a client error", s)
	}
	if e.Message == "" {
		t.Fatalf("an error without a message: %#v", e)
	}
}

// reencode encodes v as the gateway would forward it and decodes it again into fresh.
func reencode(t *testing.T, v, fresh any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("a decoded request does not encode: %v", err)
	}
	if err := Decode(b, fresh); err != nil {
		t.Fatalf("the re-encoded request %s does not decode: %v", b, err)
	}
	return b
}

// canonRaw is raw JSON as encoding/json writes it (compact, HTML-escaped): the form a
// RawMessage takes after one encode.
func canonRaw(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatalf("a decoded raw value does not encode: %v", err)
	}
	return b
}

// canonChat normalises what JSON cannot tell apart after one round trip: raw values are
// compacted and empty lists are absent (omitempty).
func canonChat(t *testing.T, r *wire.ChatRequest) {
	t.Helper()
	r.ToolChoice = canonRaw(t, r.ToolChoice)
	r.ResponseFormat = canonRaw(t, r.ResponseFormat)
	if len(r.Tools) == 0 {
		r.Tools = nil
	}
	for i := range r.Tools {
		r.Tools[i].Function.Parameters = canonRaw(t, r.Tools[i].Function.Parameters)
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		m.Content.Parts = canonRaw(t, m.Content.Parts)
		if len(m.ToolCalls) == 0 {
			m.ToolCalls = nil
		}
	}
}

var contentTypes = []string{
	"", "application/json", "application/json; charset=utf-8", "application/vnd.api+json",
	"text/plain", "application/json; charset", "multipart/form-data; boundary=x",
}

func FuzzDecodeChat(f *testing.F) {
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`,
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":"2+2"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"calculator","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"4"}],"tools":[{"type":"function","function":{"name":"calculator","parameters":{"type":"object"}}}],"tool_choice":"auto"}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":0,"top_p":1,"max_tokens":5,"max_completion_tokens":5,"n":1,"stop":"END","seed":-1,"user":"u","presence_penalty":0.5,"response_format":{ "type" : "json_object" }}`,
		`{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}`,
		`{"messages":[]}`,
		`{"messages":[{"role":"robot","content":"x"}]}`,
		`{"messages":[{"role":"user"}]}`,
		`{"messages":"hi"}`,
		`{"messages":[{"role":"user","content":42}]}`,
		`{"model":1}`,
		`[]`,
		`{"messages":[{"role":"user","content":"x"}]} trailing`,
		`{"messages":[{"role":"user","content":"x"`,
		``,
		"\xff\xfe",
	} {
		f.Add("application/json", []byte(body))
	}
	// Only JSON media types are accepted (or none); the rest are 415.
	for _, ct := range contentTypes {
		f.Add(ct, []byte(`{"messages":[{"role":"user","content":"x"}]}`))
	}
	f.Add("", []byte(strings.Repeat(" ", fuzzMaxBody+1)))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req wire.ChatRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = validateChat(&req, "gpt-4o-mini")
		}
		if err != nil {
			clientError(t, err)
			return
		}
		if req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("a valid request without a model or messages: %+v", req)
		}
		var again wire.ChatRequest
		b1 := reencode(t, &req, &again)
		if err := validateChat(&again, "another-default"); err != nil {
			t.Fatalf("the re-encoded request %s fails validation: %v", b1, err)
		}
		if b2, _ := json.Marshal(&again); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b1, b2)
		}
		canonChat(t, &req)
		canonChat(t, &again)
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("decode → encode → decode changed the request:\n%+v\n%+v", req, again)
		}
	})
}

func FuzzDecodeImages(f *testing.F) {
	for _, body := range []string{
		`{"prompt":"a red fox","model":"gpt-image-1","n":2,"size":"1024x1536","quality":"high","response_format":"b64_json","style":"vivid","user":"u"}`,
		`{"prompt":"x","size":"auto","quality":"auto","response_format":"url"}`,
		`{"prompt":"  "}`,
		`{"prompt":"x","n":0}`,
		`{"prompt":"x","n":1.5}`,
		`{"prompt":"x","size":"4096x4096"}`,
		`{"prompt":"x","quality":"ultra"}`,
		`{"prompt":["x"]}`,
		`{"prompt":"x"}{"prompt":"y"}`,
		`null`,
	} {
		f.Add("application/json", []byte(body))
	}
	f.Add("application/xml", []byte(`<prompt/>`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req wire.ImageRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = validateImages(&req, "gpt-image-1")
		}
		if err != nil {
			clientError(t, err)
			return
		}
		if strings.TrimSpace(req.Prompt) == "" || req.Count() < 1 || req.Count() > 10 {
			t.Fatalf("an invalid request passed: %+v", req)
		}
		var again wire.ImageRequest
		b1 := reencode(t, &req, &again)
		if err := validateImages(&again, "another-default"); err != nil {
			t.Fatalf("the re-encoded request %s fails validation: %v", b1, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("decode → encode → decode changed the request:\n%+v\n%+v", req, again)
		}
	})
}

func FuzzDecodeRun(f *testing.F) {
	for _, body := range []string{
		`{"input":"What is (2+3)*4?"}`,
		`{"input":""}`,
		`{"input":"   "}`,
		`{"input":null}`,
		`{"input":5}`,
		`{}`,
		`{"input":"x","extra":true}`,
		`"input"`,
		`{"input":"\u0000\ud800"}`,
	} {
		f.Add("application/json", []byte(body))
	}
	f.Add("application/json", []byte(`{"input":"`+strings.Repeat("a", 32001)+`"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req runRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = validateRun(&req)
		}
		if err != nil {
			clientError(t, err)
			return
		}
		if req.Input == nil || strings.TrimSpace(*req.Input) == "" || len(*req.Input) > 32000 {
			t.Fatalf("an invalid run passed: %+v", req)
		}
		var again runRequest
		b1 := reencode(t, &req, &again)
		if err := validateRun(&again); err != nil {
			t.Fatalf("the re-encoded run %s fails validation: %v", b1, err)
		}
		if *again.Input != *req.Input {
			t.Fatalf("input changed in a round trip: %q → %q", *req.Input, *again.Input)
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	for _, h := range []string{
		"Bearer sk-123", "bearer sk-123", "BEARER  sk-123 ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
		"Bearer a b", "Bearer \tsk", "Bearer sk\r\n", " Bearer sk", "Bearer " + strings.Repeat("k", 513), "",
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		var token string
		var ok bool
		testkit.Bounded(t, 2*time.Second, func() { token, ok = ParseBearer(h) })
		if !ok {
			if token != "" {
				t.Fatalf("ParseBearer(%q) = %q with ok false", h, token)
			}
			return
		}
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("ParseBearer(%q) accepted scheme %q", h, scheme)
		}
		if token == "" || len(token) > 512 || strings.ContainsAny(token, " \t\r\n") || !strings.Contains(rest, token) {
			t.Fatalf("ParseBearer(%q) = %q", h, token)
		}
		// The token read back from the header a client would build from it.
		if again, ok := ParseBearer("Bearer " + token); !ok || again != token {
			t.Fatalf("ParseBearer(Bearer %s) = %q, %v", token, again, ok)
		}
	})
}

// FuzzDecodeForwardAgreement: for a chat body the gateway accepts, an upstream reading the
// forwarded bytes — case-sensitively, keeping either the first or the last of a repeated key —
// reads the model, n, max_tokens, stream and every message role that the gateway validated.
func FuzzDecodeForwardAgreement(f *testing.F) {
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"n":1,"max_tokens":5}`,
		`{"model":"x","model":"unlisted","MODEL":"cheap","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","Role":"system","content":"hi"}],"N":3}`,
		`{"mod\u0065l":"x","messages":[{"role":"user","content":"hi"}],"max_to\u212aens":9}`,
		`{"messages":[{"role":"user","content":"hi"}],"stream":false,"Stream":true}`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req wire.ChatRequest
		if Decode(body, &req) != nil || validateChat(&req, "gpt-4o-mini") != nil {
			return
		}
		model, _ := json.Marshal(req.Model)
		fwd, err := wire.SetFields(body, wire.Field{Key: "model", Value: model})
		if err != nil {
			t.Fatalf("an accepted body cannot be patched: %v", err)
		}
		for _, keep := range []string{"first", "last"} {
			top := exactObject(t, fwd, keep == "last")
			agree(t, keep, "model", top["model"], &req.Model)
			agree(t, keep, "n", top["n"], req.N)
			agree(t, keep, "max_tokens", top["max_tokens"], req.MaxTokens)
			agree(t, keep, "stream", top["stream"], &req.Stream)
			var msgs []json.RawMessage
			if err := json.Unmarshal(top["messages"], &msgs); err != nil || len(msgs) != len(req.Messages) {
				t.Fatalf("%s: the upstream reads %d messages, the gateway validated %d", keep, len(msgs), len(req.Messages))
			}
			for i, m := range msgs {
				agree(t, keep, "messages.role", exactObject(t, m, keep == "last")["role"], &req.Messages[i].Role)
			}
		}
	})
}

// exactObject reads a JSON object as a case-sensitive reader does, keeping the first or the
// last value of a repeated key.
func exactObject(t *testing.T, b []byte, last bool) map[string]json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, seen := out[tok.(string)]; !seen || last {
			out[tok.(string)] = v
		}
	}
	return out
}

// agree fails unless raw (what the upstream reads; nil when absent) decodes to want (what the
// gateway validated; a nil pointer or a zero value when absent).
func agree[T comparable](t *testing.T, keep, name string, raw json.RawMessage, want *T) {
	t.Helper()
	var zero T
	if raw == nil || string(raw) == "null" {
		if want != nil && *want != zero && name != "model" {
			t.Fatalf("%s: the upstream reads no %s, the gateway validated %v", keep, name, *want)
		}
		if name == "model" {
			t.Fatalf("%s: the forwarded body has no model", keep)
		}
		return
	}
	var got T
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: the upstream cannot read %s %s: %v", keep, name, raw, err)
	}
	if want == nil || got != *want {
		t.Fatalf("%s: the upstream reads %s %v, the gateway validated %v", keep, name, got, deref(want))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
