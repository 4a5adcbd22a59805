package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"aiservice/service/internal/sse"
	"aiservice/service/internal/testkit"
	"aiservice/service/internal/wire"
)

// FuzzUpstreamStream feeds arbitrary bytes to the stream reader the gateway uses on upstream
// SSE bodies: the SSE parser and DecodeChunk together.
func FuzzUpstreamStream(f *testing.F) {
	for _, s := range []string{
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n" +
			"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
			"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n" +
			"data: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"calculator\",\"arguments\":\"{}\"}}]}}]}\n\ndata: [DONE]\n\n",
		"event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"x\"}}\n\n",
		"data: {\"error\":{\"message\":\"bad\"}}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"",
		"data: null\n\ndata: [DONE]\n\n",
		"data: [DONE]\n\ndata: {}\n\n",
		": ping\n\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n",
		"data: {\"choices\":\"x\"}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		body := io.NopCloser(bytes.NewReader(in))
		s := &sseStream{ctx: context.Background(), body: body, r: sse.NewReader(body)}
		var chunks []*wire.Chunk
		var err error
		testkit.Bounded(t, 5*time.Second, func() {
			for {
				var c *wire.Chunk
				c, err = s.Next()
				if err != nil {
					return
				}
				if c == nil {
					err = errors.New("a nil chunk without an error")
					return
				}
				if len(chunks) > len(in) {
					err = errors.New("more chunks than input bytes")
					return
				}
				chunks = append(chunks, c)
			}
		})
		// The stream ends in exactly one of three ways, each typed so the gateway can tell a
		// clean end from a cut (retry / error event) from an upstream error.
		var se *StatusError
		var ce *ConnError
		switch {
		case errors.Is(err, io.EOF) && !errors.As(err, &ce):
			// A clean end only after [DONE]: the stream stays ended.
			if _, again := s.Next(); !errors.Is(again, io.EOF) {
				t.Fatalf("after the end: %v", again)
			}
		case errors.As(err, &ce):
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, sse.ErrEventTooLarge) {
				t.Fatalf("connection error %v wraps neither io.ErrUnexpectedEOF nor ErrEventTooLarge", err)
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("a truncated stream looks like a clean end: %v", err)
			}
		case errors.As(err, &se), errors.As(err, new(*InvalidError)):
			if msg, ok := badAnswer(err); !ok || msg == "" {
				t.Fatalf("stream error %v, want a 502 or an invalid answer, with a message", err)
			}
		default:
			t.Fatalf("stream ended with %T %v", err, err)
		}
		// Every chunk the gateway accepted survives re-encoding unchanged (it relays chunks as
		// JSON to its own clients): encode → decode → encode gives the same bytes. (Compared as
		// JSON because omitempty turns an empty list into an absent, nil one.)
		for i, c := range chunks {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("chunk %d does not encode: %v", i, err)
			}
			back, err := DecodeChunk("", b)
			if err != nil {
				t.Fatalf("chunk %d re-encoded as %s does not decode: %v", i, b, err)
			}
			b2, err := json.Marshal(back)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("chunk %d changed in a round trip:\n %s\n %s (%v)", i, b, b2, err)
			}
		}
	})
}

// FuzzDecodeChunk covers the chunk decoder alone, including event names.
func FuzzDecodeChunk(f *testing.F) {
	f.Add("", []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`))
	f.Add("error", []byte(`{"error":{"message":"m","type":"t","code":"c","param":"p"}}`))
	f.Add("error", []byte(`not json`))
	f.Add("", []byte(`{"error":1}`))
	f.Add("message", []byte(`[]`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c, err := DecodeChunk(name, data)
		if err != nil {
			if msg, ok := badAnswer(err); c != nil || !ok || msg == "" {
				t.Fatalf("DecodeChunk = %v, %v; want a nil chunk and a 502 or an invalid answer, with a message", c, err)
			}
			return
		}
		if c == nil {
			t.Fatal("a nil chunk without an error")
		}
		if name == "error" {
			t.Fatal("an error event decoded as a chunk")
		}
	})
}

// FuzzCheckResponse: any upstream body is a response object with an output array (and, when
// it has one, a plausible usage) or an invalid answer — never a panic.
func FuzzCheckResponse(f *testing.F) {
	f.Add([]byte(`{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}}`))
	f.Add([]byte(`{"object":"chat.completion","output":[]}`))
	f.Add([]byte(`{"output":{}}`))
	f.Add([]byte(`{"output":[],"usage":{"input_tokens":-1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckResponse(b)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("CheckResponse = %v, want an InvalidError", err)
			}
			return
		}
		fs, ferr := wire.ObjectFields(b, "output", "usage")
		if ferr != nil || !fs[0].Found() || b[fs[0].Start] != '[' {
			t.Fatalf("accepted a body without an output array: %s", b)
		}
		if u := fs[1]; u.Found() && string(b[u.Start:u.End]) != "null" {
			if usage, ok := ParseResponseUsage(b[u.Start:u.End]); !ok || !plausible(usage) {
				t.Fatalf("accepted an implausible usage: %s", b)
			}
		}
	})
}
