package bdd

import (
	"bytes"
	"fmt"
	"strings"
)

// samples are the request bodies the features name in plain words ("malformed JSON", "a chat
// request with empty messages"). Keeping the bytes here keeps the features readable; QA can
// look a name up in this one table.
var samples = map[string]string{
	// Not JSON, or not the JSON the API takes.
	"no body":                              "",
	"an empty body":                        "",
	"malformed JSON":                       `{"messages": [{"role": "user", "content": "hi"}],}`,
	"truncated JSON":                       `{"messages": [{"role": "user", "content": "hi"`,
	"a JSON array":                         `[{"role": "user", "content": "hi"}]`,
	"a JSON string":                        `"hello"`,
	"two JSON objects":                     `{"messages": [{"role": "user", "content": "hi"}]} {}`,
	"a valid chat request":                 `{"messages": [{"role": "user", "content": "hi"}]}`,
	"a valid image request":                `{"prompt": "a lighthouse"}`,
	"a valid agent run":                    `{"input": "What is 2 + 2?"}`,
	"messages as a string":                 `{"messages": "hello"}`,
	"messages as an object":                `{"messages": {"role": "user", "content": "hi"}}`,
	"temperature as text":                  `{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}`,
	"max_tokens as a fraction":             `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1.5}`,
	"stream as a string":                   `{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}`,
	"content as a number":                  `{"messages": [{"role": "user", "content": 42}]}`,
	"a prompt as a number":                 `{"prompt": 42}`,
	"n as text":                            `{"prompt": "a lighthouse", "n": "two"}`,
	"input as a number":                    `{"input": 42}`,
	"a chat request without messages":      `{"model": "gpt-4o-mini"}`,
	"a chat request with null messages":    `{"messages": null}`,
	"a chat request with empty messages":   `{"messages": []}`,
	"a message with the role wizard":       `{"messages": [{"role": "wizard", "content": "hi"}]}`,
	"a message without a role":             `{"messages": [{"content": "hi"}]}`,
	"a message without content":            `{"messages": [{"role": "user"}]}`,
	"a tool message without its call id":   `{"messages": [{"role": "tool", "content": "42"}]}`,
	"a temperature of 3":                   `{"messages": [{"role": "user", "content": "hi"}], "temperature": 3}`,
	"a top_p of 1.5":                       `{"messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}`,
	"max_tokens of 0":                      `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}`,
	"n of 129 on chat":                     `{"messages": [{"role": "user", "content": "hi"}], "n": 129}`,
	"five stop sequences":                  `{"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}`,
	"a chat for the model gpt-9":           `{"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}`,
	"a chat for the image model":           `{"model": "gpt-image-1", "messages": [{"role": "user", "content": "hi"}]}`,
	"an image request without a prompt":    `{"size": "1024x1024"}`,
	"an image request with a blank prompt": `{"prompt": "   "}`,
	"an image request for 0 images":        `{"prompt": "a lighthouse", "n": 0}`,
	"an image request for 11 images":       `{"prompt": "a lighthouse", "n": 11}`,
	"an image request of size 100x100":     `{"prompt": "a lighthouse", "size": "100x100"}`,
	"an image request of quality ultra":    `{"prompt": "a lighthouse", "quality": "ultra"}`,
	"an image request for the format gif":  `{"prompt": "a lighthouse", "response_format": "gif"}`,
	"an image request for the model gpt-9": `{"prompt": "a lighthouse", "model": "gpt-9"}`,
	"an image request for a chat model":    `{"prompt": "a lighthouse", "model": "gpt-4o-mini"}`,
	"an agent run without input":           `{}`,
	"an agent run with blank input":        `{"input": "  "}`,
}

// sampleBody returns the bytes of a named sample; "a N MB body" is generated.
func sampleBody(name string) ([]byte, error) {
	var mb int
	if _, err := fmt.Sscanf(name, "a %d MB body", &mb); err == nil && mb > 0 {
		// Valid JSON, just too big: the size limit must not depend on the body being malformed.
		pad := strings.Repeat("x", mb<<20)
		return []byte(`{"messages": [{"role": "user", "content": "` + pad + `"}]}`), nil
	}
	b, ok := samples[name]
	if !ok {
		return nil, fmt.Errorf("no request sample named %q (see harness/bdd/samples_test.go)", name)
	}
	return bytes.Clone([]byte(b)), nil
}
