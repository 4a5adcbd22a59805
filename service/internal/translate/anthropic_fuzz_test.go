package translate

import (
	"encoding/json"
	"testing"

	"aiservice/service/internal/wire"
)

// FuzzMessagesFromChat: any decodable chat request translates to Messages or is refused with
// a field named; what translates encodes.
func FuzzMessagesFromChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"2"}],"tool_choice":"required","parallel_tool_calls":false}`,
		`{"model":"m","n":3,"seed":1,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, drop bool) {
		var req wire.ChatRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		out, err := MessagesFromChat(&req, Options{DropUnsupported: drop})
		if err != nil {
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("translated request does not encode: %v", err)
		}
	})
}

// FuzzEventTranslator: any sequence of events (one per line) translates without panicking,
// and every chunk encodes; so does the reverse of those chunks.
func FuzzEventTranslator(f *testing.F) {
	f.Add([]byte(toolStream))
	f.Add([]byte(`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"x"}}
{"type":"message_delta","usage":{"output_tokens":-1}}
{"type":"message_stop"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		et, ct := NewEventTranslator(0), NewChunkTranslator("m", 0)
		for _, line := range splitLines(b) {
			var ev wire.AEvent
			if json.Unmarshal(line, &ev) != nil {
				continue
			}
			c := et.Event(&ev)
			if c == nil {
				continue
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatal(err)
			}
			for _, e := range ct.Chunk(c) {
				if _, err := json.Marshal(&e); err != nil {
					t.Fatal(err)
				}
			}
		}
		ct.End()
	})
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
