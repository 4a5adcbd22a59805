package sim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/sim"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

// newSim starts a simulator on a loopback httptest server.
func newSim(t *testing.T, b sim.Behaviour, apiKey string) (*sim.Server, *httptest.Server) {
	t.Helper()
	s := sim.New(b, apiKey, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func post(t *testing.T, url, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

func setBehaviour(t *testing.T, url string, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url+"/_sim/behaviour", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT /_sim/behaviour %s: %d %s", body, resp.StatusCode, b)
	}
}

func stats(t *testing.T, url string) sim.Stats {
	t.Helper()
	resp, err := http.Get(url + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return decode[sim.Stats](t, resp)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const hello = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Say hello"}]}`

func TestChat(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	resp := post(t, srv.URL+"/v1/chat/completions", hello)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := decode[wire.ChatResponse](t, resp)
	if got.Object != "chat.completion" || got.Model != "gpt-4o-mini" || !strings.HasPrefix(got.ID, "chatcmpl-") || got.Created == 0 {
		t.Errorf("envelope = %+v", got)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("%d choices", len(got.Choices))
	}
	c := got.Choices[0]
	if c.Message.Role != "assistant" || c.FinishReason != "stop" || len(strings.Fields(c.Message.Content.Text)) != 24 {
		t.Errorf("choice = %+v, want 24 words from the assistant ending with stop", c)
	}
	u := got.Usage
	if u == nil {
		t.Fatal("no usage")
	}
	wantPrompt := tokens.Prompt([]string{"be brief", "Say hello"})
	if u.PromptTokens != wantPrompt || u.CompletionTokens != tokens.Count(c.Message.Content.Text) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v, want prompt %d, completion %d", u, wantPrompt, tokens.Count(c.Message.Content.Text))
	}
	// The same input gives the same answer: tests can compare outputs across runs.
	again := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", hello))
	if again.Choices[0].Message.Content.Text != c.Message.Content.Text || again.ID != got.ID {
		t.Errorf("not deterministic: %q vs %q", again.Choices[0].Message.Content.Text, c.Message.Content.Text)
	}
	other := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", strings.Replace(hello, "Say hello", "Say goodbye", 1)))
	if other.Choices[0].Message.Content.Text == c.Message.Content.Text {
		t.Error("a different prompt gave the same answer")
	}
	st := stats(t, srv.URL)
	if st.ChatRequests != 3 || st.Requests != 3 || st.Completed != 3 || st.InFlight != 0 || st.LastModel != "gpt-4o-mini" || !st.LastAuthorized {
		t.Errorf("stats = %+v", st)
	}
}

func TestChatOptions(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{OutputTokens: 5}, "")
	t.Run("output_tokens sets the reply length", func(t *testing.T) {
		got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", hello))
		if n := len(strings.Fields(got.Choices[0].Message.Content.Text)); n != 5 {
			t.Errorf("%d words, want 5", n)
		}
	})
	t.Run("max_tokens cuts the reply with finish_reason length", func(t *testing.T) {
		body := `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`
		got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
		if got.Choices[0].FinishReason != "length" || got.Usage.CompletionTokens > 2 {
			t.Errorf("finish %q completion tokens %d", got.Choices[0].FinishReason, got.Usage.CompletionTokens)
		}
	})
	t.Run("omit_usage", func(t *testing.T) {
		setBehaviour(t, srv.URL, `{"omit_usage":true}`)
		got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", hello))
		if got.Usage != nil {
			t.Errorf("usage %+v with omit_usage", got.Usage)
		}
	})
}

func TestChatBadRequests(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	for _, tc := range []struct{ name, body, want string }{
		{"malformed JSON", `{"model":`, "invalid JSON body"},
		{"no messages", `{"model":"m","messages":[]}`, "messages must be a non-empty array"},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/chat/completions", tc.body)
			body := decode[wire.ErrorBody](t, resp)
			if resp.StatusCode != http.StatusBadRequest || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, tc.want) {
				t.Errorf("%d %+v, want 400 %q", resp.StatusCode, body.Error, tc.want)
			}
		})
	}
	if st := stats(t, srv.URL); st.Requests != 0 {
		t.Errorf("rejected requests were admitted: %+v", st)
	}
}

// readStream reads every event of an SSE response until EOF or an error.
func readStream(t *testing.T, body io.Reader) ([]wire.Chunk, bool, error) {
	t.Helper()
	rd := sse.NewReader(body)
	var chunks []wire.Chunk
	done := false
	for {
		ev, err := rd.Next()
		if err != nil {
			return chunks, done, err
		}
		if done {
			t.Fatalf("event after [DONE]: %s", ev.Data)
		}
		if bytes.Equal(ev.Data, sse.Done) {
			done = true
			continue
		}
		var c wire.Chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatalf("chunk %s: %v", ev.Data, err)
		}
		chunks = append(chunks, c)
	}
}

func TestChatStream(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{Chunks: 4}, "")
	plain := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", hello))
	for _, tc := range []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"with usage", strings.Replace(hello, `{"model"`, `{"stream":true,"stream_options":{"include_usage":true},"model"`, 1), true},
		{"without usage", strings.Replace(hello, `{"model"`, `{"stream":true,"model"`, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/chat/completions", tc.body)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
				t.Fatalf("status %d content-type %q", resp.StatusCode, ct)
			}
			chunks, done, err := readStream(t, resp.Body)
			if !errors.Is(err, io.EOF) || !done {
				t.Fatalf("stream ended with %v, [DONE] seen %v", err, done)
			}
			var text strings.Builder
			content := 0
			for i, c := range chunks {
				if c.Object != "chat.completion.chunk" || c.ID != chunks[0].ID {
					t.Errorf("chunk %d envelope %+v", i, c)
				}
				if len(c.Choices) == 1 && c.Choices[0].Delta.Content != "" {
					content++
					if (i == 0) != (c.Choices[0].Delta.Role == "assistant") {
						t.Errorf("chunk %d role %q: only the first carries the role", i, c.Choices[0].Delta.Role)
					}
					text.WriteString(c.Choices[0].Delta.Content)
				}
			}
			if content != 4 {
				t.Errorf("%d content chunks, want 4", content)
			}
			// The stream says what the non-streaming answer says.
			if text.String() != plain.Choices[0].Message.Content.Text {
				t.Errorf("stream text %q, non-stream %q", text.String(), plain.Choices[0].Message.Content.Text)
			}
			finish := chunks[content]
			if len(finish.Choices) != 1 || finish.Choices[0].FinishReason == nil || *finish.Choices[0].FinishReason != "stop" {
				t.Errorf("finish chunk = %+v", finish)
			}
			if !tc.wantUsage {
				if len(chunks) != content+1 {
					t.Errorf("%d chunks, want content + finish only", len(chunks))
				}
				return
			}
			if len(chunks) != content+2 {
				t.Fatalf("%d chunks, want content + finish + usage", len(chunks))
			}
			u := chunks[len(chunks)-1]
			if len(u.Choices) != 0 || u.Usage == nil || u.Usage.PromptTokens != plain.Usage.PromptTokens ||
				u.Usage.CompletionTokens != plain.Usage.CompletionTokens || u.Usage.TotalTokens != plain.Usage.TotalTokens {
				t.Errorf("usage chunk = %+v, want empty choices and usage %+v", u, plain.Usage)
			}
		})
	}
	if st := stats(t, srv.URL); st.StreamRequests != 2 || st.ChatRequests != 1 || st.Completed != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestStreamTiming(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{TimeToFirstToken: sim.Duration(150 * time.Millisecond), InterTokenDelay: sim.Duration(30 * time.Millisecond), Chunks: 4}, "")
	start := time.Now()
	resp := post(t, srv.URL+"/v1/chat/completions", strings.Replace(hello, `{"model"`, `{"stream":true,"model"`, 1))
	headers := time.Since(start)
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
	}
	total := time.Since(start)
	// Headers come at once, the first token after the configured delay, then 3 gaps. (The gap
	// between headers and first chunk is checked rather than an absolute time, so load on the
	// machine cannot make it fail.)
	if first-headers < 100*time.Millisecond {
		t.Errorf("headers after %v, first chunk after %v: want the headers well before the first token", headers, first)
	}
	if first < 150*time.Millisecond {
		t.Errorf("first chunk after %v, want >= 150ms", first)
	}
	if total < 150*time.Millisecond+3*30*time.Millisecond {
		t.Errorf("stream took %v, want >= 240ms", total)
	}
}

const calcTools = `"tools":[{"type":"function","function":{"name":"calculator","parameters":{"type":"object"}}},{"type":"function","function":{"name":"clock"}}]`

func TestToolCalls(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	for _, tc := range []struct {
		name     string
		question string
		extra    string
		wantTool string
		wantArgs string
	}{
		{"arithmetic calls the calculator", "What is (2 + 3) * 4?", "", "calculator", `{"expression":"(2 + 3) * 4"}`},
		{"decimals and powers", "compute 1.5 ^ 2 please", "", "calculator", `{"expression":"1.5 ^ 2"}`},
		{"time questions call the clock", "What time is it?", "", "clock", `{}`},
		{"tool_choice none answers in text", "What is 2 + 2?", `,"tool_choice":"none"`, "", ""},
		{"no arithmetic answers in text", "Tell me a story", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"model":"gpt-4o-mini",` + calcTools + tc.extra + `,"messages":[{"role":"user","content":"` + tc.question + `"}]}`
			got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
			msg := got.Choices[0].Message
			if tc.wantTool == "" {
				if len(msg.ToolCalls) != 0 || got.Choices[0].FinishReason != "stop" || msg.Content.Text == "" {
					t.Fatalf("want a text answer, got %+v", got.Choices[0])
				}
				return
			}
			if got.Choices[0].FinishReason != "tool_calls" || !msg.Content.Null || len(msg.ToolCalls) != 1 {
				t.Fatalf("want one tool call with null content, got %+v", got.Choices[0])
			}
			call := msg.ToolCalls[0]
			if call.Type != "function" || call.Function.Name != tc.wantTool || call.Function.Arguments != tc.wantArgs || !strings.HasPrefix(call.ID, "call_") {
				t.Fatalf("tool call = %+v, want %s(%s)", call, tc.wantTool, tc.wantArgs)
			}
		})
	}
	t.Run("only offered tools are called", func(t *testing.T) {
		body := `{"model":"m","tools":[{"type":"function","function":{"name":"clock"}}],"messages":[{"role":"user","content":"2 + 2"}]}`
		got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
		if len(got.Choices[0].Message.ToolCalls) != 0 {
			t.Fatalf("called %+v though the calculator was not offered", got.Choices[0].Message.ToolCalls)
		}
	})
	t.Run("the answer after a tool message states the result", func(t *testing.T) {
		body := `{"model":"gpt-4o-mini",` + calcTools + `,"messages":[` +
			`{"role":"user","content":"What is (2 + 3) * 4?"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"calculator","arguments":"{\"expression\":\"(2 + 3) * 4\"}"}}]},` +
			`{"role":"tool","tool_call_id":"call_1","content":" 20 "}]}`
		got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
		if c := got.Choices[0]; c.Message.Content.Text != "The result is 20." || c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 {
			t.Fatalf("final answer = %+v", c)
		}
	})
	t.Run("streamed tool call", func(t *testing.T) {
		body := `{"model":"gpt-4o-mini","stream":true,` + calcTools + `,"messages":[{"role":"user","content":"3*7"}]}`
		chunks, done, err := readStream(t, post(t, srv.URL+"/v1/chat/completions", body).Body)
		if !errors.Is(err, io.EOF) || !done || len(chunks) < 3 {
			t.Fatalf("%d chunks, done %v, err %v", len(chunks), done, err)
		}
		head := chunks[0].Choices[0].Delta.ToolCalls
		if len(head) != 1 || head[0].Index == nil || *head[0].Index != 0 || head[0].Function.Name != "calculator" || head[0].Function.Arguments != "" || !strings.HasPrefix(head[0].ID, "call_") {
			t.Fatalf("first tool call delta = %+v, want id, type and name with empty arguments", head)
		}
		var args strings.Builder
		for _, c := range chunks[1 : len(chunks)-1] {
			tcs := c.Choices[0].Delta.ToolCalls
			if len(tcs) != 1 || tcs[0].Index == nil || *tcs[0].Index != 0 || tcs[0].Function.Name != "" || tcs[0].ID != "" {
				t.Fatalf("argument delta = %+v", tcs)
			}
			args.WriteString(tcs[0].Function.Arguments)
		}
		if args.String() != `{"expression":"3*7"}` {
			t.Errorf("streamed arguments = %s", args.String())
		}
		if f := chunks[len(chunks)-1].Choices[0].FinishReason; f == nil || *f != "tool_calls" {
			t.Fatalf("finish = %v", f)
		}
	})
}

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}}},` +
	`{"type":"function","function":{"name":"searchFlights","description":"Find flights between airports","parameters":{"type":"object","properties":{"from":{"type":"string","pattern":"^[A-Z]{3}$"},"to":{"type":"string","pattern":"^[A-Z]{3}$"},"passengers":{"type":"integer","minimum":1,"maximum":9}},"required":["from","to","passengers"]}}}]`

func TestAnyToolIsCalledWithArgumentsThatFitItsSchema(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	schemas := map[string]string{
		"get_weather":   `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}`,
		"searchFlights": `{"type":"object","properties":{"from":{"type":"string","pattern":"^[A-Z]{3}$"},"to":{"type":"string","pattern":"^[A-Z]{3}$"},"passengers":{"type":"integer","minimum":1,"maximum":9}},"required":["from","to","passengers"]}`,
	}
	for _, tc := range []struct{ name, question, choice, want string }{
		{"the tool matching the prompt", "What is the weather in Paris?", "", "get_weather"},
		{"camelCase names match too", "Find me flights from LIS to SFO", "", "searchFlights"},
		{"a named tool_choice wins", "What is the weather in Paris?", `,"tool_choice":{"type":"function","function":{"name":"searchFlights"}}`, "searchFlights"},
		{"required calls a tool even without a match", "Tell me a story", `,"tool_choice":"required"`, "get_weather"},
		{"auto without a match answers in text", "Tell me a story", `,"tool_choice":"auto"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"model":"m",` + weatherTools + tc.choice + `,"messages":[{"role":"user","content":"` + tc.question + `"}]}`
			got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
			calls := got.Choices[0].Message.ToolCalls
			if tc.want == "" {
				if len(calls) != 0 {
					t.Fatalf("called %+v, want a text answer", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].Function.Name != tc.want || got.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("calls = %+v, want one call of %s", calls, tc.want)
			}
			if err := validate(t, []byte(schemas[tc.want]), []byte(calls[0].Function.Arguments)); err != nil {
				t.Errorf("arguments %s do not fit %s's schema: %v", calls[0].Function.Arguments, tc.want, err)
			}
		})
	}
}

func TestStructuredOutputs(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	schema := `{"type":"object","properties":{"name":{"type":"string"},"date":{"type":"string","format":"date"},"participants":{"type":"array","items":{"type":"string"},"minItems":1}},"required":["name","date","participants"],"additionalProperties":false}`
	for _, tc := range []struct{ name, format, schema string }{
		{"json_schema", `{"type":"json_schema","json_schema":{"name":"event","strict":true,"schema":` + schema + `}}`, schema},
		{"json_object", `{"type":"json_object"}`, `{"type":"object"}`},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				body := fmt.Sprintf(`{"model":"m","stream":%v,"response_format":%s,"messages":[{"role":"user","content":"Alice and Bob are going to a science fair on Friday."}]}`, stream, tc.format)
				resp := post(t, srv.URL+"/v1/chat/completions", body)
				var content string
				if stream {
					chunks, _, _ := readStream(t, resp.Body)
					for _, c := range chunks {
						if len(c.Choices) > 0 {
							content += c.Choices[0].Delta.Content
						}
					}
				} else {
					content = decode[wire.ChatResponse](t, resp).Choices[0].Message.Content.Text
				}
				if err := validate(t, []byte(tc.schema), []byte(content)); err != nil {
					t.Errorf("content %s does not fit the schema: %v", content, err)
				}
			})
		}
	}
}

func TestRequestsTheModelCannotHonourAre400(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	for _, tc := range []struct{ name, extra, want string }{
		{"unsatisfiable schema", `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer","minimum":3,"maximum":1}}}`, "between the minimum and the maximum"},
		{"json_schema without a schema", `"response_format":{"type":"json_schema","json_schema":{"name":"x"}}`, "schema is required"},
		{"unknown format type", `"response_format":{"type":"yaml"}`, "not one of text"},
		{"tool_choice names no offered tool", weatherTools + `,"tool_choice":{"type":"function","function":{"name":"nope"}}`, `nope`},
		{"tool parameters nothing satisfies", `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","required":["a"],"additionalProperties":false}}}],"tool_choice":"required"`, "parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/chat/completions", `{"model":"m",`+tc.extra+`,"messages":[{"role":"user","content":"hi"}]}`)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
				t.Errorf("status %d, body %s; want 400 naming %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestImages(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	images := func(body string) wire.ImageResponse {
		t.Helper()
		resp := post(t, srv.URL+"/v1/images/generations", body)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return decode[wire.ImageResponse](t, resp)
	}
	pngOf := func(d wire.ImageData) []byte {
		t.Helper()
		enc := d.B64JSON
		if enc == "" {
			var ok bool
			enc, ok = strings.CutPrefix(d.URL, "data:image/png;base64,")
			if !ok {
				t.Fatalf("url %.40q is not a PNG data URL", d.URL)
			}
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name, size string
		w, h       int
	}{
		{"square", "256x256", 256, 256},
		{"wide", "96x40", 96, 40},
		{"tall", "8x30", 8, 30},
		{"default size", "", 1024, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := images(`{"model":"gpt-image-1","prompt":"a red fox","n":2,"size":"` + tc.size + `"}`)
			if len(got.Data) != 2 || got.Created == 0 {
				t.Fatalf("%d images", len(got.Data))
			}
			for i, d := range got.Data {
				img, err := png.Decode(bytes.NewReader(pngOf(d)))
				if err != nil {
					t.Fatalf("image %d is not a PNG: %v", i, err)
				}
				if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
					t.Fatalf("image %d is %v, want %dx%d", i, b, tc.w, tc.h)
				}
				if d.RevisedPrompt != "a red fox" {
					t.Errorf("revised_prompt %q", d.RevisedPrompt)
				}
			}
			// Two images of one request differ from each other.
			if bytes.Equal(pngOf(got.Data[0]), pngOf(got.Data[1])) {
				t.Error("the two images of one request are identical")
			}
		})
	}
	t.Run("deterministic for a prompt", func(t *testing.T) {
		a := images(`{"prompt":"a lighthouse","size":"64x64"}`)
		b := images(`{"prompt":"a lighthouse","size":"64x64"}`)
		c := images(`{"prompt":"a windmill","size":"64x64"}`)
		if !bytes.Equal(pngOf(a.Data[0]), pngOf(b.Data[0])) {
			t.Error("the same prompt gave different images")
		}
		if bytes.Equal(pngOf(a.Data[0]), pngOf(c.Data[0])) {
			t.Error("different prompts gave the same image")
		}
		direct, err := sim.Render("a lighthouse", 0, 64, 64)
		if err != nil || !bytes.Equal(direct, pngOf(a.Data[0])) {
			t.Errorf("Render differs from the served image (err %v)", err)
		}
	})
	t.Run("url response format", func(t *testing.T) {
		got := images(`{"prompt":"x","size":"16x16","response_format":"url"}`)
		if got.Data[0].B64JSON != "" {
			t.Error("b64_json set with response_format url")
		}
		if _, err := png.Decode(bytes.NewReader(pngOf(got.Data[0]))); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct{ name, body, want string }{
		{"no prompt", `{"prompt":"  "}`, "prompt is required"},
		{"bad size", `{"prompt":"x","size":"big"}`, "size must be"},
		{"too many", `{"prompt":"x","n":11}`, "n must be between 1 and 10"},
		{"zero", `{"prompt":"x","n":0}`, "n must be between 1 and 10"},
		{"malformed", `{"prompt":`, "invalid JSON body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/images/generations", tc.body)
			body := decode[wire.ErrorBody](t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.Error.Message, tc.want) {
				t.Errorf("%d %+v, want 400 %q", resp.StatusCode, body.Error, tc.want)
			}
		})
	}
	if st := stats(t, srv.URL); st.ImageRequests != 8 {
		t.Errorf("image_requests = %d, want 8 (rejected requests are not counted)", st.ImageRequests)
	}
}

func TestInjectedErrors(t *testing.T) {
	chat := func(url, model string) *http.Response {
		return post(t, url+"/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
	}
	t.Run("fail_next fails the next N, then recovers", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"fail_next":2}`)
		for i, want := range []int{503, 503, 200, 200} {
			resp := chat(srv.URL, "m")
			if resp.StatusCode != want {
				t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
			}
			if want == 503 {
				body := decode[wire.ErrorBody](t, resp)
				if body.Error.Type != "server_error" || resp.Header.Get("Retry-After") != "" {
					t.Errorf("error %+v retry-after %q", body.Error, resp.Header.Get("Retry-After"))
				}
			}
		}
		if st := stats(t, srv.URL); st.InjectedErrors != 2 || st.Requests != 4 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("error_status and Retry-After", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"fail_next":1,"error_status":429,"retry_after":"1500ms"}`)
		resp := chat(srv.URL, "m")
		body := decode[wire.ErrorBody](t, resp)
		// Retry-After is whole seconds, rounded up so a client never retries too early.
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || body.Error.Type != "rate_limit_error" {
			t.Fatalf("%d retry-after %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
		}
	})
	t.Run("error_rate 1 fails every request", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{ErrorRate: 1, ErrorStatus: 500}, "")
		for range 3 {
			if resp := chat(srv.URL, "m"); resp.StatusCode != 500 {
				t.Fatalf("status %d, want 500", resp.StatusCode)
			}
		}
	})
	t.Run("error_models limits errors to some models", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"error_rate":1,"error_models":["gpt-4o"]}`)
		if resp := chat(srv.URL, "gpt-4o-mini"); resp.StatusCode != 200 {
			t.Errorf("gpt-4o-mini: %d, want 200", resp.StatusCode)
		}
		if resp := chat(srv.URL, "gpt-4o"); resp.StatusCode != 503 {
			t.Errorf("gpt-4o: %d, want 503", resp.StatusCode)
		}
		resp := post(t, srv.URL+"/v1/images/generations", `{"model":"gpt-4o","prompt":"x","size":"8x8"}`)
		if resp.StatusCode != 503 {
			t.Errorf("images for gpt-4o: %d, want 503", resp.StatusCode)
		}
	})
	t.Run("fail_next only counts targeted models", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"fail_next":1,"error_models":["b"]}`)
		if resp := chat(srv.URL, "a"); resp.StatusCode != 200 {
			t.Errorf("model a: %d", resp.StatusCode)
		}
		if resp := chat(srv.URL, "b"); resp.StatusCode != 503 {
			t.Errorf("model b: %d, want the pending failure", resp.StatusCode)
		}
	})
	t.Run("drop_connection", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"fail_next":1,"drop_connection":true}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(hello))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got status %d, want a transport error", resp.StatusCode)
		}
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Errorf("error %v, want a closed connection", err)
		}
		if resp := chat(srv.URL, "m"); resp.StatusCode != 200 {
			t.Errorf("after the drop: %d", resp.StatusCode)
		}
	})
	t.Run("cut_stream_after truncates without [DONE]", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"cut_stream_after":2,"chunks":6}`)
		resp := post(t, srv.URL+"/v1/chat/completions", strings.Replace(hello, `{"model"`, `{"stream":true,"model"`, 1))
		chunks, done, err := readStream(t, resp.Body)
		if done || err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("done %v err %v: a cut stream must not end cleanly", done, err)
		}
		if len(chunks) != 2 {
			t.Fatalf("%d chunks before the cut, want 2", len(chunks))
		}
	})
}

func TestLatency(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"latency":"200ms"}`)
		start := time.Now()
		if resp := post(t, srv.URL+"/v1/chat/completions", hello); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
			t.Fatalf("took %v, want about 200ms", d)
		}
	})
	t.Run("a number of nanoseconds also works", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{}, "")
		setBehaviour(t, srv.URL, `{"latency":50000000}`)
		start := time.Now()
		post(t, srv.URL+"/v1/chat/completions", hello)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("took %v, want >= 50ms", d)
		}
	})
	for _, path := range []string{"/v1/chat/completions", "/v1/images/generations"} {
		t.Run("canceled when the client goes away "+path, func(t *testing.T) {
			_, srv := newSim(t, sim.Behaviour{Latency: sim.Duration(time.Minute)}, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body := hello
			if strings.Contains(path, "images") {
				body = `{"prompt":"x","size":"8x8"}`
			}
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			eventually(t, "the request to be in flight", func() bool { return stats(t, srv.URL).InFlight == 1 })
			start := time.Now()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("client error %v, want context.Canceled", err)
			}
			eventually(t, "stats.canceled to count the request", func() bool {
				st := stats(t, srv.URL)
				return st.Canceled == 1 && st.InFlight == 0
			})
			// The handler stopped waiting at once rather than sleeping out the minute.
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("the cancellation took %v to be seen", d)
			}
			if st := stats(t, srv.URL); st.Completed != 0 {
				t.Errorf("completed = %d for a canceled request", st.Completed)
			}
		})
	}
	t.Run("a stream canceled mid-way counts as canceled", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{InterTokenDelay: sim.Duration(time.Minute), Chunks: 4}, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(strings.Replace(hello, `{"model"`, `{"stream":true,"model"`, 1)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := sse.NewReader(resp.Body).Next(); err != nil {
			t.Fatal(err)
		}
		cancel()
		eventually(t, "stats.canceled to count the stream", func() bool { return stats(t, srv.URL).Canceled == 1 })
	})
}

func TestBehaviourAPI(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{Chunks: 3}, "")
	get := func() map[string]any {
		resp, err := http.Get(srv.URL + "/_sim/behaviour")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return decode[map[string]any](t, resp)
	}
	if b := get(); b["chunks"] != 3.0 || b["latency"] != "0s" {
		t.Fatalf("initial behaviour = %v", b)
	}
	setBehaviour(t, srv.URL, `{"latency":"5ms","time_to_first_token":"1s","error_models":["x"],"output_tokens":3}`)
	b := get()
	if b["latency"] != "5ms" || b["time_to_first_token"] != "1s" || b["output_tokens"] != 3.0 || b["chunks"] != 0.0 {
		t.Fatalf("behaviour after PUT = %v (PUT replaces the whole behaviour)", b)
	}
	for _, bad := range []string{
		`{"error_rate":1.5}`, `{"error_rate":-1}`, `{"error_status":200}`, `{"error_status":600}`, `{"chunks":-1}`,
		`{"latency":"soon"}`, `{"latency":true}`, `{"nope":1}`, `not json`,
	} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_sim/behaviour", strings.NewReader(bad))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if b := get(); b["latency"] != "5ms" {
		t.Errorf("a rejected PUT changed the behaviour: %v", b)
	}
	// Reset clears counters and behaviour.
	post(t, srv.URL+"/v1/chat/completions", hello)
	resp := post(t, srv.URL+"/_sim/reset", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if st := stats(t, srv.URL); st.Requests != 0 || st.Completed != 0 || st.LastModel != "" {
		t.Errorf("stats after reset = %+v", st)
	}
	if b := get(); b["latency"] != "0s" || b["output_tokens"] != 0.0 {
		t.Errorf("behaviour after reset = %v", b)
	}
}

func TestRoutes(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/v1/models", 200},
		{"GET", "/nope", 404},
		{"POST", "/v1/chat", 404},
		{"GET", "/v1/chat/completions", 404},
		{"DELETE", "/_sim/stats", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
		if tc.want == 404 {
			body := decode[wire.ErrorBody](t, resp)
			if body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, tc.path) {
				t.Errorf("%s %s: error %+v", tc.method, tc.path, body.Error)
			}
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	list := decode[wire.ModelList](t, resp)
	if list.Object != "list" || len(list.Data) != 3 || list.Data[0].ID != "gpt-4o-mini" {
		t.Errorf("models = %+v", list)
	}
}

func TestAuthAndTraceparent(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "sk-sim")
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no key", "", 401},
		{"wrong key", "Bearer sk-other", 401},
		{"wrong scheme", "Basic sk-sim", 401},
		{"right key", "Bearer sk-sim", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/chat/completions", "/v1/images/generations"} {
				body := hello
				if strings.Contains(path, "images") {
					body = `{"prompt":"x","size":"8x8"}`
				}
				resp := post(t, srv.URL+path, body, "Authorization", tc.auth)
				if resp.StatusCode != tc.want {
					t.Errorf("%s: %d, want %d", path, resp.StatusCode, tc.want)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
			req.Header.Set("Authorization", tc.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("/v1/models: %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	post(t, srv.URL+"/v1/chat/completions", hello, "Authorization", "Bearer sk-sim", "Traceparent", tp)
	if st := stats(t, srv.URL); st.LastTraceparent != tp || !st.LastAuthorized {
		t.Errorf("stats = %+v, want the traceparent recorded and the request authorized", st)
	}
}

func TestWithoutControl(t *testing.T) {
	s := sim.New(sim.Behaviour{}, "", slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name    string
		handler http.Handler
		control int // status of the control endpoints
	}{
		{"fault injection enabled", s, 200},
		{"without control", s.WithoutControl(), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/_sim/behaviour", ""},
				{"PUT", "/_sim/behaviour", `{"error_rate":1}`},
				{"GET", "/_sim/stats", ""},
				{"POST", "/_sim/reset", ""},
			} {
				r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := tc.control
				if want == 200 && req.path == "/_sim/reset" {
					want = http.StatusNoContent
				}
				if resp.StatusCode != want {
					t.Errorf("%s %s: %d, want %d", req.method, req.path, resp.StatusCode, want)
				}
			}
			// The upstream API is served either way, and unchanged by the refused PUT.
			resp := post(t, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 && tc.control == 404 {
				t.Fatalf("chat: %d", resp.StatusCode)
			}
		})
	}
}

func TestNChoices(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{Chunks: 4}, "")
	body := `{"model":"m","n":3,"messages":[{"role":"user","content":"Tell me something"}]}`
	one := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"Tell me something"}]}`))
	got := decode[wire.ChatResponse](t, post(t, srv.URL+"/v1/chat/completions", body))
	if len(got.Choices) != 3 {
		t.Fatalf("%d choices, want 3", len(got.Choices))
	}
	seen := map[string]bool{}
	for i, c := range got.Choices {
		if c.Index != i || c.Message.Content.Text == "" || seen[c.Message.Content.Text] {
			t.Errorf("choice %d: index %d, text %q (want distinct texts)", i, c.Index, c.Message.Content.Text)
		}
		seen[c.Message.Content.Text] = true
	}
	if got.Choices[0].Message.Content.Text != one.Choices[0].Message.Content.Text {
		t.Errorf("the first of n choices should be the single answer")
	}
	if got.Usage.CompletionTokens <= one.Usage.CompletionTokens*2 {
		t.Errorf("usage counts %d completion tokens for 3 choices, one alone has %d", got.Usage.CompletionTokens, one.Usage.CompletionTokens)
	}

	chunks, done, _ := readStream(t, post(t, srv.URL+"/v1/chat/completions", `{"model":"m","n":3,"stream":true,"messages":[{"role":"user","content":"Tell me something"}]}`).Body)
	texts := map[int]string{}
	finished := map[int]bool{}
	for _, c := range chunks {
		for _, ch := range c.Choices {
			texts[ch.Index] += ch.Delta.Content
			if ch.FinishReason != nil {
				finished[ch.Index] = true
			}
		}
	}
	if !done || len(texts) != 3 || len(finished) != 3 {
		t.Fatalf("stream: done %v, %d choices, %d finished", done, len(texts), len(finished))
	}
	for i, c := range got.Choices {
		if texts[i] != c.Message.Content.Text {
			t.Errorf("streamed choice %d = %q, want %q", i, texts[i], c.Message.Content.Text)
		}
	}
	if resp := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","n":0,"messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("n=0: status %d, want 400", resp.StatusCode)
	}
}
