package api

import (
	"reflect"
	"testing"

	"aiservice/service/internal/wire"
)

// FuzzDecodeEmbeddings: no panic, every failure a typed 4xx, a valid request within OpenAI's
// limits, and stable under re-encoding (the shape of `input` included).
func FuzzDecodeEmbeddings(f *testing.F) {
	for _, body := range []string{
		`{"model":"text-embedding-3-small","input":"hello","encoding_format":"base64","dimensions":8,"user":"u","x":1}`,
		`{"model":"m","input":["a","b"]}`,
		`{"model":"m","input":[1,2,3]}`,
		`{"model":"m","input":[[1,2],[3]]}`,
		`{"model":"m","input":["a",[1]]}`,
		`{"model":"m","input":[]}`,
		`{"model":"m","input":[[]]}`,
		`{"model":"m","input":""}`,
		`{"model":"m","input":null}`,
		`{"model":"m","input":{"a":1}}`,
		`{"model":"m","input":"a","dimensions":0}`,
		`{"model":"m","input":"a","encoding_format":"hex"}`,
		`{"model":"m","input":[1.5]}`,
		`{"input":"a"}`,
	} {
		f.Add("application/json", []byte(body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var req wire.EmbeddingRequest
		err := decodeBody(t, contentType, body, &req)
		if err == nil {
			err = validateEmbeddings(&req)
		}
		if err != nil {
			clientError(t, err)
			return
		}
		n := req.Input.Len()
		if req.Model == "" || n < 1 || n > wire.MaxEmbeddingInputs {
			t.Fatalf("an invalid request passed: %+v", req)
		}
		var again wire.EmbeddingRequest
		b := reencode(t, &req, &again)
		if err := validateEmbeddings(&again); err != nil {
			t.Fatalf("the re-encoded request %s fails validation: %v", b, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("decode → encode → decode changed the request:\n%+v\n%+v", req, again)
		}
	})
}
