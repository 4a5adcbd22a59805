package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// fixture is the benchmark's own OpenAI-compatible upstream. It is not the service's simulator,
// so the gateway cannot be tuned to its own upstream: answers are 1–2 KB (the simulator's are
// ~0.5 KB), always carry usage, and streams are paced like a real model's. Everything it sends
// is a function of the request body, so two runs send the same bytes.
type fixture struct {
	sizes  []int         // answer sizes in bytes; the request's hash picks one
	chunks int           // content chunks per stream
	gap    time.Duration // wait before each chunk, so a stream lasts chunks × gap

	mu     sync.Mutex
	frames map[frameKey][][]byte // rendered streams, by model and answer size
}

type frameKey struct {
	model string
	size  int
}

// defaultAnswerSizes mixes several sizes between 1 and 2 KB.
var defaultAnswerSizes = []int{1024, 1280, 1536, 1792, 2048}

func newFixture(sizes []int, chunks int, gap time.Duration) *fixture {
	return &fixture{sizes: sizes, chunks: chunks, gap: gap, frames: map[frameKey][][]byte{}}
}

type fixtureRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type fixtureUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (f *fixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	var req fixtureRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	size := f.answerSize(body)
	usage := usageFor(req, size)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.completion(req.Model, size, usage))
		return
	}
	f.stream(w, r, req, size, usage)
}

// answerSize picks an answer size from the request's hash: deterministic, and mixed across
// prompts.
func (f *fixture) answerSize(body []byte) int {
	h := fnv.New32a()
	_, _ = h.Write(body)
	return f.sizes[h.Sum32()%uint32(len(f.sizes))]
}

// usageFor counts about four bytes per token, as OpenAI's tokenizer does for English.
func usageFor(req fixtureRequest, answer int) fixtureUsage {
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(m.Content)
	}
	u := fixtureUsage{PromptTokens: prompt/4 + 1, CompletionTokens: answer / 4}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// answerText is size bytes of plain words: no characters JSON would escape.
func answerText(size int) string {
	const words = "the quick brown fox jumps over the lazy dog while a model streams its answer "
	return strings.Repeat(words, size/len(words)+1)[:size]
}

func (f *fixture) completion(model string, size int, u fixtureUsage) []byte {
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}
	b, _ := json.Marshal(struct {
		ID      string       `json:"id"`
		Object  string       `json:"object"`
		Created int64        `json:"created"`
		Model   string       `json:"model"`
		Choices []choice     `json:"choices"`
		Usage   fixtureUsage `json:"usage"`
	}{"chatcmpl-bench", "chat.completion", 1700000000, model,
		[]choice{{Message: message{Role: "assistant", Content: answerText(size)}, FinishReason: "stop"}}, u})
	return b
}

// stream sends the content chunks paced from the start of the answer (absolute times, so the
// pace does not drift under load), then the finish chunk, the usage chunk if asked for, and
// [DONE] at once, as OpenAI does.
func (f *fixture) stream(w http.ResponseWriter, r *http.Request, req fixtureRequest, size int, u fixtureUsage) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	frames := f.renderedStream(req.Model, size)
	start := time.Now()
	t := time.NewTimer(f.gap)
	defer t.Stop()
	for i, fr := range frames[:f.chunks] {
		t.Reset(time.Until(start.Add(time.Duration(i+1) * f.gap)))
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		if _, err := w.Write(fr); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	_, _ = w.Write(frames[f.chunks])
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		_, _ = w.Write(chunkFrame(req.Model, fmt.Sprintf(`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`,
			u.PromptTokens, u.CompletionTokens, u.TotalTokens)))
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

// renderedStream returns the SSE frames of a stream, rendered once per model and size: at
// thousands of held streams the fixture shares the cores with what it measures.
func (f *fixture) renderedStream(model string, size int) [][]byte {
	k := frameKey{model, size}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr, ok := f.frames[k]; ok {
		return fr
	}
	text := answerText(size)
	fr := make([][]byte, 0, f.chunks+1)
	for i := range f.chunks {
		piece := text[i*size/f.chunks : (i+1)*size/f.chunks]
		role := ""
		if i == 0 {
			role = `"role":"assistant",`
		}
		fr = append(fr, chunkFrame(model, fmt.Sprintf(`"choices":[{"index":0,"delta":{%s"content":%s},"finish_reason":null}]`, role, jsonString(piece))))
	}
	fr = append(fr, chunkFrame(model, `"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`))
	f.frames[k] = fr
	return fr
}

// chunkFrame is one SSE event of a chat.completion.chunk; rest is its fields after the model.
func chunkFrame(model, rest string) []byte {
	return fmt.Appendf(nil, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":%s,%s}`+"\n\n", jsonString(model), rest)
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
