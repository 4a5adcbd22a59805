package api

import (
	"testing"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// FuzzDecodeMessages: no panic, every failure a typed 4xx (also in Anthropic's table), and a
// valid request translates to OpenAI's dialect or is refused with a 400 naming a field.
func FuzzDecodeMessages(f *testing.F) {
	for _, body := range []string{
		`{"model":"claude","max_tokens":10,"system":"S","messages":[{"role":"user","content":"Hi"}],"stream":true}`,
		`{"model":"c","max_tokens":10,"system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA"}}]}]}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"2"}]}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`,
		`{"model":"c","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":1024},"top_k":3,"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"c","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"system","content":"x"}]}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":7}]}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":[{"type":"video"}]}]}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool","name":"nope"}}`,
		`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"x","Content":"y"}]}`,
	} {
		f.Add("application/json", []byte(body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req wire.MessagesRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = ValidateMessages(&req, false)
		}
		if err != nil {
			clientError(t, err)
			if s := anthropicStatus(apperr.From(err)); s < 400 || s > 499 {
				t.Fatalf("Anthropic status %d for a client error", s)
			}
			return
		}
		if _, err := translate.ChatFromMessages(&req, translate.Options{}); err != nil {
			clientError(t, err)
		}
		if _, err := translate.ChatFromMessages(&req, translate.Options{DropUnsupported: true}); err != nil {
			clientError(t, err) // an image without a usable source is still the client's error
		}
	})
}
