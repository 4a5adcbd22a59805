package provider

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

const okCompletion = `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

// wantRefused checks that err is a refusal (a StatusError with Err set, which the gateway's
// classifier never retries) with the status and reason.
func wantRefused(t *testing.T, err error, status int, reason error) {
	t.Helper()
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != status || se.Err == nil || !errors.Is(err, reason) {
		t.Fatalf("error %v, want a %d StatusError refusing with %v", err, status, reason)
	}
}

func TestResponseBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		length  string // announced Content-Length ("" for chunked)
		body    string
		limit   int64
		wantErr error
	}{
		{"within the bound", "", okCompletion, 1 << 10, nil},
		{"exactly at the bound", "", okCompletion, int64(len(okCompletion)), nil},
		{"one byte over, chunked", "", okCompletion, int64(len(okCompletion)) - 1, ErrResponseTooLarge},
		{"far over, chunked", "", okCompletion + strings.Repeat(" ", 256<<10), 1 << 10, ErrResponseTooLarge},
		{"a huge Content-Length cut short is refused unread", fmt.Sprint(int64(1) << 40), okCompletion, 1 << 20, ErrResponseTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.length != "" {
					w.Header().Set("Content-Length", tc.length)
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, ConnectTimeout: time.Second, MaxIdleConnsPerHost: 1, MaxResponseBytes: tc.limit})
			c, err := p.ChatRaw(ctxT(t), chatReq("x"))
			if tc.wantErr == nil {
				if err != nil || string(c.Body) != tc.body {
					t.Fatalf("got %q, %v; want the body", c.Body, err)
				}
				return
			}
			wantRefused(t, err, http.StatusBadGateway, tc.wantErr)
		})
	}
}

func TestSharedBuffers(t *testing.T) {
	big := `{"object":"chat.completion","choices":[{"message":{"content":"` + strings.Repeat("x", 200<<10) + `"}}]}`
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		wantErr error
	}{
		{"a small answer fits", okCompletion, false, nil},
		{"a chunked answer past the shared bound", big, true, ErrBuffersFull},
		{"an announced length past the shared bound", big, false, ErrBuffersFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(tc.body)))
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			const size = 128 << 10
			buffers := semaphore.NewWeighted(size)
			p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, ConnectTimeout: time.Second, MaxIdleConnsPerHost: 1, Buffers: buffers})
			_, err := p.ChatRaw(ctxT(t), chatReq("x"))
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil {
				// The gateway's own overload, as its in-flight limit answers: 429 overloaded.
				if e := apperr.From(err); e.Kind != apperr.RateLimit || e.Code != "overloaded" || !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want a 429 overloaded wrapping %v", err, tc.wantErr)
				}
			}
			if !buffers.TryAcquire(size) {
				t.Fatal("the read did not give back what it reserved")
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, okCompletion)
	}))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, status)
			}))
			defer srv.Close()
			p := newClient(srv.URL, "sk-secret")
			_, err := p.ChatRaw(ctxT(t), chatReq("x"))
			wantRefused(t, err, http.StatusBadGateway, ErrRedirect)
			_, err = p.ChatStream(ctxT(t), chatReq("x"))
			wantRefused(t, err, http.StatusBadGateway, ErrRedirect)
			if n := reached.Load(); n != 0 {
				t.Fatalf("the redirect target got %d requests", n)
			}
		})
	}
}

func TestMalformedSuccess(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		ok               bool
	}{
		{"a completion", "chat", okCompletion, true},
		{"a completion without object or usage", "chat", `{"choices":[{"message":{}}]}`, true},
		{"null usage", "chat", `{"choices":[{}],"usage":null}`, true},
		{"no choices", "chat", `{"object":"chat.completion","choices":[]}`, false},
		{"null choices", "chat", `{"object":"chat.completion","choices":null}`, false},
		{"choices absent", "chat", `{"id":"x"}`, false},
		{"another object", "chat", `{"object":"list","choices":[{}]}`, false},
		{"a choice that is not an object", "chat", `{"choices":[1]}`, false},
		{"negative usage", "chat", `{"choices":[{}],"usage":{"prompt_tokens":-1,"completion_tokens":1,"total_tokens":0}}`, false},
		{"absurd usage", "chat", `{"choices":[{}],"usage":{"prompt_tokens":1,"completion_tokens":1000000000000,"total_tokens":1}}`, false},
		{"usage not an object", "chat", `{"choices":[{}],"usage":"lots"}`, false},
		{"images", "images", `{"created":1,"data":[{"b64_json":"AA=="}]}`, true},
		{"images by url", "images", `{"created":1,"data":[{"url":"https://x/y.png"}]}`, true},
		{"no images", "images", `{"created":1,"data":[]}`, false},
		{"images absent", "images", `{"created":1}`, false},
		{"an image without data", "images", `{"data":[{"revised_prompt":"x"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newClient(srv.URL, "")
			var err error
			if tc.path == "chat" {
				_, err = p.ChatRaw(ctxT(t), chatReq("x"))
			} else {
				_, err = p.Images(ctxT(t), &wire.ImageRequest{Prompt: "x"})
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ie := (*InvalidError)(nil); !errors.As(err, &ie) {
				t.Fatalf("error %v, want an InvalidError", err)
			}
		})
	}
}

func TestUpstreamErrorsKeepTheKeyOut(t *testing.T) {
	const key = "sk-Secret123"
	for _, tc := range []struct {
		name, body string
		stream     bool
	}{
		{"exact", `{"error":{"message":"bad key sk-Secret123","type":"invalid_request_error","code":"sk-Secret123"}}`, false},
		{"upper-cased", `{"error":{"message":"SK-SECRET123","type":"SK-SECRET123","code":"SK-SECRET123","param":"sk-secret123"}}`, false},
		{"spaced", `{"error":{"message":"s k - S e c r e t 1 2 3","type":"x","code":"sk-\tSecret123"}}`, false},
		{"in a stream error event", `{"error":{"message":"SK-SECRET123","type":"sk-secret123","code":"Sk-Secret123"}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.stream {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = io.WriteString(w, "event: error\ndata: "+tc.body+"\n\n")
					return
				}
				w.WriteHeader(400)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newClient(srv.URL, key)
			var err error
			if tc.stream {
				st, serr := p.ChatStream(ctxT(t), chatReq("x"))
				if serr != nil {
					t.Fatal(serr)
				}
				defer st.Close()
				_, err = st.NextRaw()
			} else {
				_, err = p.ChatRaw(ctxT(t), chatReq("x"))
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a StatusError", err)
			}
			all := fmt.Sprintf("%s %+v %v %v", err, se.Detail, deref(se.Detail.Code), deref(se.Detail.Param))
			flat := strings.ToLower(strings.Join(strings.Fields(all), ""))
			if strings.Contains(flat, "secret123") {
				t.Fatalf("the key reached the error: %s", all)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestStreamBounds(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		wantErr    error
		lastRead   bool // LastRead is set after the stream
	}{
		{"keep-alive comments only", strings.Repeat(": keep-alive\n\n", 50), io.ErrUnexpectedEOF, false},
		{"a data event", ": ka\n\ndata: {\"choices\":[]}\n\n", io.ErrUnexpectedEOF, true},
		{"an event past the bound", "data: " + strings.Repeat("x", 2<<20) + "\n\n", ErrResponseTooLarge, true},
		{"a comment line past the bound", ": " + strings.Repeat("x", 2<<20) + "\n\n", ErrResponseTooLarge, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := streamOf(t, tc.body)
			var err error
			for err == nil {
				_, err = st.NextRaw()
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == ErrResponseTooLarge {
				wantRefused(t, err, http.StatusBadGateway, ErrResponseTooLarge)
			}
			if got := !st.LastRead().IsZero(); got != tc.lastRead {
				t.Fatalf("LastRead set = %v, want %v: only data lines count", got, tc.lastRead)
			}
		})
	}
}

// TestLastReadOnASlowLink: bytes of a large HTTP/1.1 chunk still in the decoder count as
// progress after a data event, not after a comment (they may be more comments).
func TestLastReadOnASlowLink(t *testing.T) {
	for _, tc := range []struct {
		name, first string // the first event, in its own chunk
		counts      bool   // bytes of the next, unfinished chunk advance LastRead
	}{
		{"after a data event", "data: {\"choices\":[]}\n\n", true},
		{"after a comment", ": keep-alive\n\ndata: {\"choices\":[]}\n\n: ka\n\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			next := make(chan string)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = c.Read(make([]byte, 64<<10)) // the request
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
				_, _ = fmt.Fprintf(c, "%x\r\n%s\r\n", len(tc.first), tc.first)
				for s := range next {
					_, _ = io.WriteString(c, s)
				}
			}()
			st, err := newClient("http://"+ln.Addr().String(), "").ChatStream(ctxT(t), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.NextRaw(); err != nil {
				t.Fatal(err)
			}
			s := st.(*sseStream)
			before := s.LastRead()
			// The stream waits for its next event, as the gateway's does, while a 4 KiB chunk
			// only begins to arrive.
			waiting := make(chan struct{})
			go func() {
				defer close(waiting)
				_, _ = st.NextRaw()
			}()
			defer func() { close(next); <-waiting }() // the server hangs up; the read ends
			sent := time.Now()
			next <- "1000\r\ndata: " + strings.Repeat("x", 100)
			deadline := time.Now().Add(5 * time.Second)
			for s.conn.last.Load() < sent.UnixNano() { // poll: the bytes reached the connection
				if time.Now().After(deadline) {
					t.Fatal("the bytes never arrived")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := s.LastRead().After(before); got != tc.counts {
				t.Fatalf("LastRead advanced = %v, want %v", got, tc.counts)
			}
		})
	}
}
