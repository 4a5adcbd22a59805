package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// The hostile-input matrix: malformed, oversized and adversarial requests against the real
// binary. Every case gets its documented status — a 4xx with OpenAI's error envelope, or 200
// where the input is acceptable — and after every case the service still answers /healthz and
// a normal chat. After the whole matrix its goroutines are back at the baseline.
//
// A few inputs never reach the service's router: Go's HTTP server refuses them while parsing
// (bad header bytes, conflicting lengths, oversized headers) with a plain-text 4xx and closes
// the connection. Those cases say so (plain) and assert the status, that the connection is
// closed and that nothing was injected.

const (
	matrixBodyCap = 64 << 10
	matrixKey     = "matrix-key"
	// matrixReadHeaderTimeout is the service's server.read_header_timeout in this suite.
	matrixReadHeaderTimeout = time.Second
	// matrixChatTimeout is the /v1/chat deadline in this suite.
	matrixChatTimeout = 2 * time.Second
)

// hcase is one hostile input. Either an HTTP request built from the fields (sent by Go's
// client), raw bytes written on a TCP connection (for what Go's client refuses to send), or a
// custom run.
type hcase struct {
	name    string
	method  string // default POST
	path    string // default /v1/chat
	ct      string // Content-Type; default application/json; "-" sends none
	body    []byte
	chunked bool // send the body without a length: Transfer-Encoding: chunked
	header  map[string]string
	noAuth  bool
	raw     string // a raw request instead; AUTH is replaced by the Authorization header line

	want      int
	wantType  string // the error's type (for 4xx)
	wantCode  string // the error's code, when the case is about one
	wantParam string // the error's param, when the case is about one
	plain     bool   // refused by Go's HTTP server before the router
	check     func(t *testing.T, r *hresp)

	run func(t *testing.T, e *matrixEnv) // a custom case
}

type hresp struct {
	status int
	header http.Header
	body   []byte
	closed bool // raw: the server closed the connection after the response
}

type matrixEnv struct {
	svc  *launch.Process
	sim  launch.SimControl
	http *http.Client
	c    *client.Client // authenticated, for the health checks
}

func TestHostileInputMatrix(t *testing.T) {
	ctx := context.Background()
	sim := launch.MustStartSim(t, launch.Options{})
	svc := launch.MustStartService(t, launch.Options{
		Config: launch.UpstreamConfig(sim.URL, fmt.Sprintf(`
max_body_bytes: %d
server: {read_header_timeout: %s}
timeouts: {chat: %s}
upstream: {idle_conn_timeout: 1s}
`, matrixBodyCap, matrixReadHeaderTimeout, matrixChatTimeout)),
		Args: []string{"--api-keys", matrixKey},
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	e := &matrixEnv{svc: svc, sim: launch.SimControl{URL: sim.URL}, http: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	e.c = client.New(svc.URL)
	e.c.APIKey = matrixKey
	e.c.HTTP = e.http

	// The baseline: the idle service (the sampling connection's goroutine included).
	s0, err := sampleRuntime(ctx, svc.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := s0.Goroutines

	cases := hostileCases()
	if len(cases) < 40 {
		t.Fatalf("the matrix has %d cases, want at least 40", len(cases))
	}
	for _, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			if hc.run != nil {
				hc.run(t, e)
			} else {
				r := e.send(t, hc)
				hc.assert(t, r)
			}
			if err := mustHealthy(ctx, e.c); err != nil {
				t.Fatalf("service unhealthy after the case: %v", err)
			}
		})
	}

	// No goroutine leak: once the client's connections are closed and the pooled upstream
	// connections have idled out (upstream.idle_conn_timeout 1s), the service is back at its
	// baseline.
	tr.CloseIdleConnections()
	const tolerance = 3
	var now float64
	eventually(t, 10*time.Second, "goroutines back to the baseline after the matrix", func() (bool, string) {
		s, err := sampleRuntime(ctx, svc.URL)
		if err != nil {
			return false, err.Error()
		}
		now = s.Goroutines
		return now <= base+tolerance, fmt.Sprintf("%.0f goroutines, baseline %.0f", now, base)
	})
	if err := mustHealthy(ctx, e.c); err != nil {
		t.Fatalf("service unhealthy after the matrix: %v", err)
	}
	t.Logf("hostile-input matrix: %d cases; goroutines %.0f before, %.0f after", len(cases), base, now)
}

// send performs a case's request.
func (e *matrixEnv) send(t *testing.T, hc hcase) *hresp {
	t.Helper()
	if hc.raw != "" {
		auth := "Authorization: Bearer " + matrixKey + "\r\n"
		return rawExchange(t, e.svc.Addr, strings.ReplaceAll(hc.raw, "AUTH", auth), 5*time.Second)
	}
	method, path := hc.method, hc.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/v1/chat"
	}
	var body io.Reader
	if hc.body != nil {
		body = bytes.NewReader(hc.body)
		if hc.chunked {
			body = io.MultiReader(body) // no known length
		}
	}
	req, err := http.NewRequest(method, e.svc.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if hc.chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	switch hc.ct {
	case "":
		if hc.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case "-":
	default:
		req.Header.Set("Content-Type", hc.ct)
	}
	if !hc.noAuth {
		req.Header.Set("Authorization", "Bearer "+matrixKey)
	}
	for k, v := range hc.header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return &hresp{status: resp.StatusCode, header: resp.Header, body: b}
}

// rawExchange writes a raw request on a new TCP connection and reads one response.
func rawExchange(t *testing.T, addr, raw string, limit time.Duration) *hresp {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("writing the raw request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the raw response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the raw response body: %v", err)
	}
	r := &hresp{status: resp.StatusCode, header: resp.Header, body: b}
	// Did the server close the connection? A read returns EOF at once if so.
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := br.ReadByte(); errors.Is(err, io.EOF) || isConnReset(err) {
		r.closed = true
	}
	return r
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(ne.Err.Error(), "reset")
}

var (
	requestIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	generatedRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// assert checks the common properties of an answer, then the case's own.
func (hc hcase) assert(t *testing.T, r *hresp) {
	t.Helper()
	if r.status != hc.want {
		t.Fatalf("status %d, want %d; body %.300s", r.status, hc.want, r.body)
	}
	// Nothing a client sent becomes a response header.
	for name := range r.header {
		if strings.EqualFold(name, "Set-Cookie") || strings.EqualFold(name, "X-Injected") {
			t.Errorf("response header %s: %q — injected", name, r.header.Values(name))
		}
	}
	if hc.plain {
		// Go's HTTP server refused the request while parsing it: plain text, connection closed.
		if hc.raw != "" && !r.closed {
			t.Errorf("the connection stayed open after a request Go's server refused")
		}
		if hc.check != nil {
			hc.check(t, r)
		}
		return
	}
	if id := r.header.Get("X-Request-Id"); !requestIDPattern.MatchString(id) {
		t.Errorf("X-Request-Id %q is missing or unsafe", id)
	}
	if !utf8.Valid(r.body) {
		t.Errorf("the body is not valid UTF-8: %q", r.body)
	}
	if hc.want >= 400 {
		e, ok := isOpenAIError(r.body)
		if !ok {
			t.Fatalf("error body is not OpenAI's envelope: %.300s", r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("error Content-Type %q", ct)
		}
		if e.Error.Type != hc.wantType {
			t.Errorf("error type %q, want %q (%s)", e.Error.Type, hc.wantType, e.Error.Message)
		}
		if hc.wantCode != "" && (e.Error.Code == nil || *e.Error.Code != hc.wantCode) {
			t.Errorf("error code %v, want %q", e.Error.Code, hc.wantCode)
		}
		if hc.wantParam != "" && (e.Error.Param == nil || *e.Error.Param != hc.wantParam) {
			t.Errorf("error param %v, want %q", e.Error.Param, hc.wantParam)
		}
		// Whatever the client sent, the message stays short: no unbounded echo.
		if len(e.Error.Message) > 1024 {
			t.Errorf("error message of %d bytes echoes the input", len(e.Error.Message))
		}
	} else if !json.Valid(r.body) {
		t.Errorf("2xx body is not JSON: %.300s", r.body)
	}
	if hc.check != nil {
		hc.check(t, r)
	}
}

// chatJSON builds a chat body with one user message and extra top-level fields (raw JSON).
func chatJSON(content string, extra string) []byte {
	c, _ := json.Marshal(content)
	if extra != "" {
		extra = "," + extra
	}
	return []byte(`{"messages":[{"role":"user","content":` + string(c) + `}]` + extra + `}`)
}

// chatOfSize builds a valid chat body of exactly n bytes.
func chatOfSize(n int) []byte {
	b := chatJSON("", "")
	return chatJSON(strings.Repeat("x", n-len(b)), "")
}

func manyMessages(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"messages":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"role":"user","content":"m"}`)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

func bodyLacks(needles ...string) func(t *testing.T, r *hresp) {
	return func(t *testing.T, r *hresp) {
		for _, n := range needles {
			if bytes.Contains(r.body, []byte(n)) {
				t.Errorf("the body contains %q: %.300s", n, r.body)
			}
		}
	}
}

func requestIDIs(want string) func(t *testing.T, r *hresp) {
	return func(t *testing.T, r *hresp) {
		if got := r.header.Get("X-Request-Id"); got != want {
			t.Errorf("X-Request-Id %q, want %q", got, want)
		}
	}
}

// requestIDReplaced: the client's unsafe id was not echoed; the service made its own.
func requestIDReplaced(t *testing.T, r *hresp) {
	if got := r.header.Get("X-Request-Id"); !generatedRequestID.MatchString(got) {
		t.Errorf("X-Request-Id %q: an unsafe client id must be replaced by a generated one", got)
	}
	if vs := r.header.Values("X-Request-Id"); len(vs) != 1 {
		t.Errorf("%d X-Request-Id headers: %q", len(vs), vs)
	}
}

const (
	invalid  = "invalid_request_error"
	notFound = "not_found_error"
	authErr  = "authentication_error"
)

func hostileCases() []hcase {
	okChat := chatJSON("hello", "")
	cases := []hcase{
		// Nesting and numbers.
		{name: "deep nesting 100k [ over the cap", body: bytes.Repeat([]byte("["), 100_000), want: 413, wantType: invalid, wantCode: "request_too_large"},
		{name: "deep nesting 60k [ under the cap", body: bytes.Repeat([]byte("["), 60_000), want: 400, wantType: invalid},
		{name: "deep nesting 12k objects", body: []byte(strings.Repeat(`{"a":`, 12_000)), want: 400, wantType: invalid},
		{name: "deep nesting inside content", body: []byte(`{"messages":[{"role":"user","content":` + strings.Repeat("[", 30_000) + `}]}`), want: 400, wantType: invalid},
		{name: "max_tokens 1e400", body: chatJSON("hi", `"max_tokens":1e400`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens 99999999999999999999", body: chatJSON("hi", `"max_tokens":99999999999999999999`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens negative", body: chatJSON("hi", `"max_tokens":-1`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens zero", body: chatJSON("hi", `"max_tokens":0`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens over the limit", body: chatJSON("hi", `"max_tokens":1000001`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens at the limit", body: chatJSON("hi", `"max_tokens":1000000`), want: 200},
		{name: "max_tokens fractional", body: chatJSON("hi", `"max_tokens":2.5`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "max_tokens as a string", body: chatJSON("hi", `"max_tokens":"10"`), want: 400, wantType: invalid, wantParam: "max_tokens"},
		{name: "n 129", body: chatJSON("hi", `"n":129`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "n negative", body: chatJSON("hi", `"n":-1`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "n 1e400", body: chatJSON("hi", `"n":1e400`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "n huge integer", body: chatJSON("hi", `"n":99999999999999999999`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "temperature 1e400", body: chatJSON("hi", `"temperature":1e400`), want: 400, wantType: invalid, wantParam: "temperature"},
		{name: "temperature negative", body: chatJSON("hi", `"temperature":-0.5`), want: 400, wantType: invalid, wantParam: "temperature"},
		{name: "seed over int64", body: chatJSON("hi", `"seed":99999999999999999999`), want: 400, wantType: invalid, wantParam: "seed"},

		// Bytes and encodings.
		{name: "invalid UTF-8 in content", body: []byte("{\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff\xfe bytes\"}]}"), want: 200},
		{name: "invalid UTF-8 in model", body: []byte("{\"model\":\"gpt\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), want: 404, wantType: notFound, wantCode: "model_not_found"},
		{name: "raw NUL byte in a string", body: []byte("{\"messages\":[{\"role\":\"user\",\"content\":\"a\x00b\"}]}"), want: 400, wantType: invalid},
		{name: "escaped NUL in a string", body: chatJSON("a\x00b", ""), want: 200},
		{name: "NUL byte before the JSON", body: append([]byte{0}, okChat...), want: 400, wantType: invalid},
		{name: "UTF-8 BOM before the JSON", body: append([]byte("\xef\xbb\xbf"), okChat...), want: 400, wantType: invalid},
		{name: "duplicate keys are refused", body: []byte(`{"messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"second"}]}`), want: 400, wantType: invalid, wantParam: "messages"},
		{name: "duplicate keys, one of the wrong type", body: []byte(`{"messages":"nope","messages":[{"role":"user","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "messages"},
		{name: "duplicate model keys are refused", body: []byte(`{"model":"gpt-4o-mini","model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "model"},

		// What is validated is what is forwarded: keys an upstream could read differently.
		{name: "model, MODEL", body: []byte(`{"model":"gpt-4o-mini","MODEL":"no-such-model","messages":[{"role":"user","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "MODEL"},
		{name: "model escaped and repeated", body: []byte(`{"model":"gpt-4o-mini","mod\u0065l":"no-such-model","messages":[{"role":"user","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "model"},
		{name: "N instead of n", body: chatJSON("hi", `"N":5`), want: 400, wantType: invalid, wantParam: "N"},
		{name: "Max_Tokens instead of max_tokens", body: chatJSON("hi", `"Max_Tokens":99999999`), want: 400, wantType: invalid, wantParam: "Max_Tokens"},
		{name: "a message's role repeated", body: []byte(`{"messages":[{"role":"user","role":"root","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "messages[0].role"},
		{name: "a message's Role", body: []byte(`{"messages":[{"role":"user","Role":"system","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "messages[0].Role"},
		{name: "a tool's function NAME", body: chatJSON("hi", `"tools":[{"type":"function","function":{"name":"f","NAME":"g"}}]`), want: 400, wantType: invalid, wantParam: "tools[0].function.NAME"},
		{name: "images: prompt repeated", path: "/v1/images", body: []byte(`{"prompt":"a cat","prompt":"a dog"}`), want: 400, wantType: invalid, wantParam: "prompt"},
		{name: "images: N", path: "/v1/images", body: []byte(`{"prompt":"a cat","N":10}`), want: 400, wantType: invalid, wantParam: "N"},
		{name: "agent run: INPUT", path: "/v1/agents/calculator/runs", body: []byte(`{"input":"1+1","INPUT":"2+2"}`), want: 400, wantType: invalid, wantParam: "INPUT"},

		// OpenAI's own validation rules.
		{name: "tool parameters a string", body: chatJSON("hi", `"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]`), want: 400, wantType: invalid, wantParam: "tools[0].function.parameters"},
		{name: "tool_choice not offered", body: chatJSON("hi", `"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"shell"}}`), want: 400, wantType: invalid, wantParam: "tool_choice"},
		{name: "presence_penalty 3", body: chatJSON("hi", `"presence_penalty":3`), want: 400, wantType: invalid, wantParam: "presence_penalty"},
		{name: "frequency_penalty -2.1", body: chatJSON("hi", `"frequency_penalty":-2.1`), want: 400, wantType: invalid, wantParam: "frequency_penalty"},
		{name: "response_format yaml", body: chatJSON("hi", `"response_format":{"type":"yaml"}`), want: 400, wantType: invalid, wantParam: "response_format.type"},
		{name: "unknown fields", body: chatJSON("hi", `"x_unknown":{"deep":[1,2,3]},"another":null`), want: 200},

		// Sizes against the 64 KiB cap.
		{name: "10k messages over the cap", body: manyMessages(10_000), want: 413, wantType: invalid, wantCode: "request_too_large"},
		{name: "2000 messages under the cap", body: manyMessages(2000), want: 200},
		{name: "string just under the cap", body: chatOfSize(matrixBodyCap - 16), want: 200},
		{name: "body exactly at the cap", body: chatOfSize(matrixBodyCap), want: 200},
		{name: "body one byte over the cap", body: chatOfSize(matrixBodyCap + 1), want: 413, wantType: invalid, wantCode: "request_too_large"},
		{name: "string of 2 MiB", body: chatOfSize(2 << 20), want: 413, wantType: invalid, wantCode: "request_too_large"},
		{name: "chunked body under the cap", body: chatOfSize(matrixBodyCap - 16), chunked: true, want: 200},
		{name: "chunked body over the cap", body: chatOfSize(matrixBodyCap + 4096), chunked: true, want: 413, wantType: invalid, wantCode: "request_too_large"},
		{name: "chunked body far over the cap", body: chatOfSize(4 << 20), chunked: true, want: 413, wantType: invalid, wantCode: "request_too_large"},

		// Malformed and wrongly typed JSON.
		{name: "empty body", body: []byte{}, want: 400, wantType: invalid},
		{name: "JSON null", body: []byte(`null`), want: 400, wantType: invalid, wantParam: "messages"},
		{name: "JSON array", body: []byte(`[]`), want: 400, wantType: invalid},
		{name: "JSON string", body: []byte(`"hello"`), want: 400, wantType: invalid},
		{name: "trailing data", body: append(append([]byte{}, okChat...), []byte(`{}`)...), want: 400, wantType: invalid},
		{name: "truncated JSON", body: okChat[:len(okChat)-3], want: 400, wantType: invalid},
		{name: "JSON with a comment", body: []byte(`{/* hi */"messages":[]}`), want: 400, wantType: invalid},
		{name: "unknown role", body: []byte(`{"messages":[{"role":"root","content":"hi"}]}`), want: 400, wantType: invalid, wantParam: "messages[0].role"},
		{name: "content a number", body: []byte(`{"messages":[{"role":"user","content":42}]}`), want: 400, wantType: invalid},
		{name: "five stop sequences", body: chatJSON("hi", `"stop":["a","b","c","d","e"]`), want: 400, wantType: invalid, wantParam: "stop"},
		{name: "stream on the non-streaming route", body: chatJSON("hi", `"stream":true`), want: 400, wantType: invalid, wantParam: "stream"},
		{name: "stream as a string", body: chatJSON("hi", `"stream":"yes"`), want: 400, wantType: invalid, wantParam: "stream"},
		{name: "model path traversal", body: []byte(`{"model":"../../etc/passwd","messages":[{"role":"user","content":"hi"}]}`), want: 404, wantType: notFound, wantCode: "model_not_found", check: bodyLacks("root:")},
		{name: "model name of 8 KiB", body: []byte(`{"model":"` + strings.Repeat("m", 8<<10) + `","messages":[{"role":"user","content":"hi"}]}`), want: 404, wantType: notFound, wantCode: "model_not_found"},

		// Content types.
		{name: "text/plain", ct: "text/plain", body: okChat, want: 415, wantType: invalid, wantCode: "unsupported_media_type"},
		{name: "form-urlencoded", ct: "application/x-www-form-urlencoded", body: okChat, want: 415, wantType: invalid, wantCode: "unsupported_media_type"},
		{name: "multipart", ct: "multipart/form-data; boundary=xyz", body: okChat, want: 415, wantType: invalid, wantCode: "unsupported_media_type"},
		{name: "malformed content type", ct: "application/json;;;=", body: okChat, want: 415, wantType: invalid, wantCode: "unsupported_media_type"},
		{name: "json with charset", ct: "application/json; charset=utf-8", body: okChat, want: 200},
		{name: "+json media type", ct: "application/vnd.example+json", body: okChat, want: 200},
		{name: "no content type", ct: "-", body: okChat, want: 200},

		// Headers.
		{name: "X-Request-Id with markup", header: map[string]string{"X-Request-Id": "<script>alert(1)</script>"}, body: okChat, want: 200, check: requestIDReplaced},
		{name: "X-Request-Id encoded CRLF", header: map[string]string{"X-Request-Id": "abc%0d%0aSet-Cookie:%20x=1"}, body: okChat, want: 200, check: requestIDReplaced},
		{name: "X-Request-Id of 129 bytes", header: map[string]string{"X-Request-Id": strings.Repeat("a", 129)}, body: okChat, want: 200, check: requestIDReplaced},
		{name: "X-Request-Id plain is echoed", header: map[string]string{"X-Request-Id": "req-123_abc.def:9"}, body: okChat, want: 200, check: requestIDIs("req-123_abc.def:9")},
		{name: "raw CRLF in X-Request-Id", raw: rawChat("X-Request-Id: abc\r\nSet-Cookie: injected=1\r\nX-Injected: 1\r\n"), want: 200, check: requestIDIs("abc")},
		{name: "raw bare LF in X-Request-Id", raw: rawChat("X-Request-Id: abc\nSet-Cookie: injected=1\r\n"), want: 200, check: requestIDIs("abc")},
		{name: "raw bare CR in X-Request-Id", raw: rawChat("X-Request-Id: abc\rSet-Cookie: injected=1\r\n"), want: 400, plain: true},
		{name: "raw NUL in X-Request-Id", raw: rawChat("X-Request-Id: abc\x00def\r\n"), want: 400, plain: true},
		// Go's server folds an obs-fold line into the previous value (RFC 9112 §5.2 allows
		// that or a 400); the folded id is then unsafe and replaced.
		{name: "raw obs-fold continuation", raw: rawChat("X-Request-Id: abc\r\n Set-Cookie: injected=1\r\n"), want: 200, check: requestIDReplaced},
		{name: "raw space in a header name", raw: rawChat("X Request-Id: abc\r\n"), want: 400, plain: true},
		{name: "raw 80 KiB header", raw: rawChat("X-Big: " + strings.Repeat("b", 80<<10) + "\r\n"), want: 431, plain: true},
		{name: "raw two Content-Length values", raw: "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAUTHContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}", want: 400, plain: true},
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3): the whole chunked body is
		// read, so nothing after it can be smuggled in as a second request.
		{name: "raw Content-Length with chunked", raw: "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAUTHContent-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk(okChat) + "0\r\n\r\n", want: 200},
		{name: "raw malformed chunk size", raw: "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAUTHContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", want: 400, wantType: invalid},
		{name: "raw no Host header", raw: "GET /healthz HTTP/1.1\r\n\r\n", want: 400, plain: true},
		{name: "raw invalid method token", raw: "G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", want: 400, plain: true},

		// Authentication.
		{name: "no API key", noAuth: true, body: okChat, want: 401, wantType: authErr, check: func(t *testing.T, r *hresp) {
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		}},
		{name: "wrong API key", header: map[string]string{"Authorization": "Bearer not-the-key"}, body: okChat, want: 401, wantType: authErr, check: bodyLacks("not-the-key", matrixKey)},
		{name: "API key of 16 KiB", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("k", 16<<10)}, body: okChat, want: 401, wantType: authErr},
		{name: "Basic credentials", header: map[string]string{"Authorization": "Basic bWF0cml4LWtleTo="}, body: okChat, want: 401, wantType: authErr},
		{name: "key as a second Bearer", header: map[string]string{"Authorization": "Bearer x Bearer " + matrixKey}, body: okChat, want: 401, wantType: authErr},

		// Paths.
		{name: "agent id ..%2F traversal", path: "/v1/agents/..%2F..%2Fetc%2Fpasswd/runs", body: []byte(`{"input":"hi"}`), want: 404, wantType: notFound, check: bodyLacks("root:")},
		{name: "raw agent id ..", raw: rawPost("/v1/agents/../runs", `{"input":"hi"}`), want: 404, wantType: notFound, check: bodyLacks("root:")},
		{name: "raw agent id %2e%2e", raw: rawPost("/v1/agents/%2e%2e/runs", `{"input":"hi"}`), want: 404, wantType: notFound},
		{name: "raw GET traversal to /etc/passwd", raw: "GET /v1/agents/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nAUTHConnection: close\r\n\r\n", want: 404, wantType: notFound, check: bodyLacks("root:")},
		{name: "agent id with NUL", path: "/v1/agents/calculator%00/runs", body: []byte(`{"input":"hi"}`), want: 404, wantType: notFound},
		{name: "agent id of 8 KiB", method: http.MethodGet, path: "/v1/agents/" + strings.Repeat("a", 8<<10), want: 404, wantType: notFound},
		{name: "double slash", method: http.MethodGet, path: "//v1/models", want: 404, wantType: notFound},
		{name: "wrong method", method: http.MethodGet, path: "/v1/chat", want: 405, wantType: invalid, wantCode: "method_not_allowed"},
		{name: "DELETE an agent", method: http.MethodDelete, path: "/v1/agents/calculator", want: 405, wantType: invalid, wantCode: "method_not_allowed"},

		// Images and agents.
		{name: "image n 0", path: "/v1/images", body: []byte(`{"prompt":"p","n":0}`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "image n 11", path: "/v1/images", body: []byte(`{"prompt":"p","n":11}`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "image n 1e400", path: "/v1/images", body: []byte(`{"prompt":"p","n":1e400}`), want: 400, wantType: invalid, wantParam: "n"},
		{name: "image size 99999x99999", path: "/v1/images", body: []byte(`{"prompt":"p","size":"99999x99999"}`), want: 400, wantType: invalid, wantParam: "size"},
		{name: "image size traversal", path: "/v1/images", body: []byte(`{"prompt":"p","size":"../../etc/passwd"}`), want: 400, wantType: invalid, wantParam: "size"},
		{name: "image prompt over 32000", path: "/v1/images", body: []byte(`{"prompt":"` + strings.Repeat("p", 32001) + `"}`), want: 400, wantType: invalid, wantParam: "prompt"},
		{name: "agent input missing", path: "/v1/agents/calculator/runs", body: []byte(`{}`), want: 400, wantType: invalid, wantParam: "input"},
		{name: "agent input blank", path: "/v1/agents/calculator/runs", body: []byte(`{"input":"   "}`), want: 400, wantType: invalid, wantParam: "input"},
		{name: "agent input over 32000", path: "/v1/agents/calculator/runs", body: []byte(`{"input":"` + strings.Repeat("1+", 16001) + `1"}`), want: 400, wantType: invalid, wantParam: "input"},
		{name: "agent calculator hostile expression", path: "/v1/agents/calculator/runs", body: []byte(`{"input":"What is ` + strings.Repeat("(", 5000) + `1` + strings.Repeat(")", 5000) + `?"}`), want: 200},

		// Connections.
		{name: "slowloris headers", run: slowloris},
		{name: "pipelined requests", run: pipelined},
		{name: "pipelined requests with an error between", run: pipelinedWithError},
		{name: "client never reads its response", run: neverReads},
		{name: "client never reads: the route deadline still applies", run: neverReadsDeadline},
		{name: "slow body: the route deadline still applies", run: slowBody},
	}
	cases = append(cases, messagesCases()...)
	return cases
}

// rawChat is a raw chat request with extra header lines (each ending in CRLF, or not).
func rawChat(extra string) string {
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	return "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAUTHContent-Type: application/json\r\n" + extra +
		fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(body)) + body
}

func rawPost(path, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAUTHContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(body)) + body
}

func chunk(b []byte) string { return fmt.Sprintf("%x\r\n%s\r\n", len(b), b) }

// slowloris sends a request's headers a byte at a time, never finishing them: the server must
// close the connection once its read-header timeout passes, not wait for the client.
func slowloris(t *testing.T, e *matrixEnv) {
	conn, err := net.DialTimeout("tcp", e.svc.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	header := "POST /v1/chat HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 10_000)
	limit := time.After(matrixReadHeaderTimeout + 3*time.Second)
	for i := 0; ; i++ {
		select {
		case took := <-closed:
			if took < matrixReadHeaderTimeout-50*time.Millisecond {
				t.Errorf("connection closed after %v, before the %v read-header timeout", took, matrixReadHeaderTimeout)
			}
			t.Logf("slow headers: connection closed by the server after %v (read_header_timeout %v), %d bytes sent", took, matrixReadHeaderTimeout, i)
			return
		case <-limit:
			t.Fatalf("the server kept a connection with unfinished headers open for %v (read_header_timeout %v)", time.Since(start), matrixReadHeaderTimeout)
		case <-time.After(50 * time.Millisecond): // the pace of a slowloris client
			if _, err := conn.Write([]byte{header[i%len(header)]}); err != nil {
				// The server closed it; the reader reports when.
				took := <-closed
				if took < matrixReadHeaderTimeout-50*time.Millisecond {
					t.Errorf("connection closed after %v, before the %v read-header timeout", took, matrixReadHeaderTimeout)
				}
				return
			}
		}
	}
}

// pipelined writes two requests in one write on one connection: both are answered, in order.
func pipelined(t *testing.T, e *matrixEnv) {
	reqs := []string{
		"GET /v1/models HTTP/1.1\r\nHost: x\r\nAUTHX-Request-Id: first\r\n\r\n",
		strings.Replace(rawPost("/v1/chat", string(chatJSON("second", ""))), "Host: x\r\n", "Host: x\r\nX-Request-Id: second\r\n", 1),
	}
	pipeline(t, e, reqs, []int{200, 200}, []string{"first", "second"})
}

func pipelinedWithError(t *testing.T, e *matrixEnv) {
	bad := "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAUTHX-Request-Id: bad\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"messa\"}"
	reqs := []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n",
		bad,
		"GET /v1/agents HTTP/1.1\r\nHost: x\r\nAUTHX-Request-Id: three\r\nConnection: close\r\n\r\n",
	}
	pipeline(t, e, reqs, []int{200, 400, 200}, []string{"one", "bad", "three"})
}

func pipeline(t *testing.T, e *matrixEnv, reqs []string, statuses []int, ids []string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.svc.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	auth := "Authorization: Bearer " + matrixKey + "\r\n"
	all := strings.ReplaceAll(strings.Join(reqs, ""), "AUTH", auth)
	if _, err := io.WriteString(conn, all); err != nil { // one write: every request at once
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range reqs {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i+1, len(reqs), err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != statuses[i] || resp.Header.Get("X-Request-Id") != ids[i] {
			t.Errorf("response %d: status %d id %q, want %d %q (answers out of order?) body %.200s",
				i+1, resp.StatusCode, resp.Header.Get("X-Request-Id"), statuses[i], ids[i], body)
		}
		if statuses[i] >= 400 {
			if _, ok := isOpenAIError(body); !ok {
				t.Errorf("response %d: error body not in OpenAI's shape: %.200s", i+1, body)
			}
		}
	}
}

// nonReader asks, on a connection whose client never reads (with a tiny receive buffer), for
// a chat answer of several megabytes — more than the socket buffers hold — so the server's
// write blocks. It returns once the answer is fully upstream-side done and the handler is
// still in flight: blocked writing.
func nonReader(t *testing.T, e *matrixEnv) net.Conn {
	t.Helper()
	ctx := context.Background()
	if err := e.sim.SetBehaviour(ctx, launch.SimBehaviour{OutputTokens: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sim.Reset(ctx) })
	st0, err := e.sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", e.svc.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	req := strings.ReplaceAll(rawPost("/v1/chat", string(chatJSON("tell me everything", ""))), "AUTH", "Authorization: Bearer "+matrixKey+"\r\n")
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the service blocked writing a large answer", func() (bool, string) {
		st, err := e.sim.Stats(ctx)
		if err != nil {
			return false, err.Error()
		}
		m, err := scrape(ctx, e.svc.URL)
		if err != nil {
			return false, err.Error()
		}
		return st.Completed > st0.Completed && m[chatInFlight] >= 1,
			fmt.Sprintf("upstream completed %d, %s = %v", st.Completed-st0.Completed, chatInFlight, m[chatInFlight])
	})
	// The big answers are over; everyone else gets normal ones again.
	if err := e.sim.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	return conn
}

const chatInFlight = `http_requests_in_flight{route="/v1/chat"}`

func chatHandlersInFlight(t *testing.T, e *matrixEnv) float64 {
	t.Helper()
	m, err := scrape(context.Background(), e.svc.URL)
	if err != nil {
		t.Fatal(err)
	}
	return m[chatInFlight]
}

// neverReads: while one client does not read its (large) answer, the service serves everyone
// else; when that client goes away, the blocked handler is released.
func neverReads(t *testing.T, e *matrixEnv) {
	ctx := context.Background()
	conn := nonReader(t, e)
	for i := 0; i < 3; i++ {
		if err := mustHealthy(ctx, e.c); err != nil {
			t.Fatalf("while a client does not read: %v", err)
		}
	}
	if _, _, err := e.c.Images(ctx, client.ImageRequest{Prompt: "small", Size: "256x256"}); err != nil {
		t.Fatalf("an image for another client while one does not read: %v", err)
	}
	if n := chatHandlersInFlight(t, e); n < 1 {
		t.Fatalf("the non-reading client's handler finished (%v in flight): the answer was not large enough to block", n)
	}
	conn.Close()
	eventually(t, 5*time.Second, "the blocked handler released once the client left", func() (bool, string) {
		n := chatHandlersInFlight(t, e)
		return n == 0, fmt.Sprintf("%s = %v", chatInFlight, n)
	})
}

// neverReadsDeadline: the route's deadline bounds a request also when its client stops
// reading — otherwise every such client holds a goroutine, a connection and the answer's
// buffers for as long as it likes (a slow-read attack needs only a few of them).
func neverReadsDeadline(t *testing.T, e *matrixEnv) {
	conn := nonReader(t, e)
	defer conn.Close()
	limit := matrixChatTimeout + 2*time.Second
	end := time.Now().Add(limit)
	for chatHandlersInFlight(t, e) >= 1 {
		if time.Now().After(end) {
			t.Fatalf("a client that stopped reading still holds its handler %v after the request began (route deadline %v): "+
				"writes have no deadline", limit, matrixChatTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowBody declares a body and sends only its first bytes: the route's deadline must end the
// request (an answer, or a closed connection) instead of waiting for the rest forever.
func slowBody(t *testing.T, e *matrixEnv) {
	conn, err := net.DialTimeout("tcp", e.svc.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	head := "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + matrixKey +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"messa"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	limit := matrixChatTimeout + 2*time.Second
	_ = conn.SetReadDeadline(start.Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	switch {
	case err == nil:
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("slow body answered %d after %v: %.200s", resp.StatusCode, took, b)
		if resp.StatusCode < 400 {
			t.Errorf("a truncated body was answered %d", resp.StatusCode)
		}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err):
		t.Logf("slow body: connection closed after %v", took)
	default:
		t.Fatalf("a request whose body never arrives was neither answered nor closed within %v (route deadline %v): %v",
			limit, matrixChatTimeout, err)
	}
}
