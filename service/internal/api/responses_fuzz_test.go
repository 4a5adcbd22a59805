package api

import (
	"encoding/json"
	"testing"

	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// FuzzDecodeResponses: no panic, every failure a typed 4xx — decoding, validation and the
// translation to chat alike — and a valid request survives re-encoding with the same chat.
func FuzzDecodeResponses(f *testing.F) {
	for _, body := range []string{
		`{"model":"gpt-4o-mini","input":"hello","instructions":"sys","max_output_tokens":64,"temperature":1,"store":false,"x":1}`,
		`{"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"https://x"}]}]}`,
		`{"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"4"}]}`,
		`{"input":"x","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"}}`,
		`{"input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}}}`,
		`{"input":"x","tools":[{"type":"web_search_preview"}]}`,
		`{"input":[{"type":"item_reference","id":"msg_1"}]}`,
		`{"input":[{"role":"robot","content":"x"}]}`,
		`{"input":[{}]}`,
		`{"input":{"a":1}}`,
		`{"input":null}`,
		`{"input":"x","metadata":{"k":"v"},"previous_response_id":"resp_1","stream":true}`,
	} {
		f.Add("application/json", []byte(body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req wire.ResponsesRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = validateResponses(&req, "gpt-4o-mini")
		}
		if err != nil {
			clientError(t, err)
			return
		}
		chat, err := translate.ToChat(&req, nil)
		if err != nil {
			clientError(t, err)
			return
		}
		if req.Model == "" || len(chat.Messages) == 0 && len(req.Input.AsItems()) > 0 {
			t.Fatalf("an invalid request passed or lost its input: %+v", req)
		}
		var again wire.ResponsesRequest
		b := reencode(t, &req, &again)
		if err := validateResponses(&again, "gpt-4o-mini"); err != nil {
			t.Fatalf("the re-encoded request %s fails validation: %v", b, err)
		}
		chat2, err := translate.ToChat(&again, nil)
		if err != nil {
			t.Fatalf("the re-encoded request %s does not translate: %v", b, err)
		}
		c1, _ := json.Marshal(chat)
		c2, _ := json.Marshal(chat2)
		if string(c1) != string(c2) {
			t.Fatalf("re-encoding changed the translation:\n%s\n%s", c1, c2)
		}
	})
}
