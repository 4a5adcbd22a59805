package sim_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"aiservice/service/internal/sim"
)

type anthropicMessage struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Role       string `json:"role"`
	Model      string `json:"model"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

func postAnthropic(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", "k")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAnthropicMessages(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{Chunks: 3}, "k")
	url := srv.URL + "/v1/messages"
	t.Run("text", func(t *testing.T) {
		resp := postAnthropic(t, url, `{"model":"claude-sonnet-4-5","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"Hello there"}]}`)
		m := decode[anthropicMessage](t, resp)
		if m.Type != "message" || m.Role != "assistant" || !strings.HasPrefix(m.ID, "msg_") || m.StopReason != "end_turn" ||
			len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == "" || m.Usage.InputTokens <= 0 || m.Usage.OutputTokens <= 0 {
			t.Fatalf("message = %+v", m)
		}
	})
	t.Run("tool use and its result", func(t *testing.T) {
		tools := `"tools":[{"name":"get_weather","description":"Current weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
		m := decode[anthropicMessage](t, postAnthropic(t, url, `{"model":"c","max_tokens":100,`+tools+`,"messages":[{"role":"user","content":[{"type":"text","text":"What is the weather in Paris?"}]}]}`))
		if m.StopReason != "tool_use" || len(m.Content) != 1 || m.Content[0].Type != "tool_use" || m.Content[0].Name != "get_weather" || !strings.HasPrefix(m.Content[0].ID, "toolu_") {
			t.Fatalf("message = %+v", m)
		}
		if err := validate(t, []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`), m.Content[0].Input); err != nil {
			t.Errorf("input %s: %v", m.Content[0].Input, err)
		}
		follow := `{"model":"c","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"What is the weather in Paris?"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"` + m.Content[0].ID + `","name":"get_weather","input":` + string(m.Content[0].Input) + `}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + m.Content[0].ID + `","content":"18 C and sunny"}]}]}`
		final := decode[anthropicMessage](t, postAnthropic(t, url, follow))
		if final.StopReason != "end_turn" || final.Content[0].Text != "The result is 18 C and sunny." {
			t.Fatalf("after the tool result: %+v", final)
		}
	})
	t.Run("stop sequence", func(t *testing.T) {
		plain := decode[anthropicMessage](t, postAnthropic(t, url, `{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`))
		word := strings.Fields(plain.Content[0].Text)[1]
		m := decode[anthropicMessage](t, postAnthropic(t, url, `{"model":"c","max_tokens":100,"stop_sequences":[" `+word+`"],"messages":[{"role":"user","content":"Hi"}]}`))
		if m.StopReason != "stop_sequence" || strings.Contains(m.Content[0].Text, " "+word) {
			t.Fatalf("with stop sequence %q: %+v", word, m)
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp := postAnthropic(t, url, `{"model":"c","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
		var events []string
		var text string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				events = append(events, name)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var e struct {
					Type  string `json:"type"`
					Delta struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"delta"`
				}
				if err := json.Unmarshal([]byte(data), &e); err != nil || e.Type != events[len(events)-1] {
					t.Fatalf("data %s under event %s: %v", data, events[len(events)-1], err)
				}
				text += e.Delta.Text
			}
		}
		want := "message_start ping content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
		if strings.Join(events, " ") != want || text == "" {
			t.Fatalf("events %v (text %q), want %s", events, text, want)
		}
	})
	t.Run("count tokens", func(t *testing.T) {
		resp := postAnthropic(t, srv.URL+"/v1/messages/count_tokens", `{"model":"c","messages":[{"role":"user","content":"Hello there, how are you?"}]}`)
		var got struct {
			InputTokens int `json:"input_tokens"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.InputTokens <= 0 {
			t.Fatalf("count_tokens: %v %+v", err, got)
		}
	})
}

func TestAnthropicErrorsHaveAnthropicsShape(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "k")
	for _, tc := range []struct {
		name, body, key, wantType string
		status                    int
	}{
		{"no max_tokens", `{"model":"c","messages":[{"role":"user","content":"x"}]}`, "k", "invalid_request_error", 400},
		{"bad role", `{"model":"c","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, "k", "invalid_request_error", 400},
		{"unknown block", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "k", "invalid_request_error", 400},
		{"bad key", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "wrong", "authentication_error", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(tc.body))
			req.Header.Set("x-api-key", tc.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if resp.StatusCode != tc.status || json.Unmarshal(b, &e) != nil || e.Type != "error" || e.Error.Type != tc.wantType || e.Error.Message == "" {
				t.Errorf("status %d body %s, want %d with error type %s", resp.StatusCode, b, tc.status, tc.wantType)
			}
		})
	}
	t.Run("injected failures", func(t *testing.T) {
		_, srv := newSim(t, sim.Behaviour{FailNext: 1, ErrorStatus: 529}, "")
		resp := postAnthropic(t, srv.URL+"/v1/messages", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 529 || !strings.Contains(string(b), `"type":"overloaded_error"`) {
			t.Errorf("status %d body %s, want 529 overloaded_error", resp.StatusCode, b)
		}
	})
}

// TestMessagesStreamCut: a Messages stream cut mid-way ends as Anthropic's do, in an `error`
// event after the deltas that went out — overloaded_error unless error_status names another
// type — or, with drop_connection, in a raw cut without a final event.
func TestMessagesStreamCut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behaviour sim.Behaviour
		wantType  string // the error event's error.type; "" for a dropped connection
	}{
		{"default", sim.Behaviour{Chunks: 6, CutStreamAfter: 2}, "overloaded_error"},
		{"529", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 529}, "overloaded_error"},
		{"500", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 500}, "api_error"},
		{"429", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 429}, "rate_limit_error"},
		{"504", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 504}, "timeout_error"},
		{"dropped connection", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, DropConnection: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newSim(t, tc.behaviour, "")
			resp := postAnthropic(t, srv.URL+"/v1/messages", `{"model":"c","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
			b, err := io.ReadAll(resp.Body)
			var names []string
			var last string
			for _, line := range strings.Split(string(b), "\n") {
				if name, ok := strings.CutPrefix(line, "event: "); ok {
					names = append(names, name)
				}
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					last = data
				}
			}
			deltas := strings.Count(strings.Join(names, " "), "content_block_delta")
			if deltas != 2 || slices.Contains(names, "message_stop") {
				t.Fatalf("events %v, want 2 deltas and no message_stop", names)
			}
			if tc.wantType == "" {
				if err == nil || names[len(names)-1] == "error" {
					t.Errorf("read error %v, events %v: want a cut connection", err, names)
				}
				return
			}
			var e struct {
				Type  string `json:"type"`
				Error struct{ Type, Message string }
			}
			if err != nil || names[len(names)-1] != "error" || json.Unmarshal([]byte(last), &e) != nil || e.Type != "error" ||
				e.Error.Type != tc.wantType || e.Error.Message == "" {
				t.Errorf("read error %v, events %v, last data %s: want an error event of type %s", err, names, last, tc.wantType)
			}
		})
	}
}
