package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"aiservice/service/internal/sse"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

const maxBody = 8 << 20

// reply is what the simulated model says: text or one tool call.
type reply struct {
	text         string
	toolCall     *wire.ToolCall
	finishReason string
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req wire.ChatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		badRequest(w, "invalid JSON body: "+err.Error())
		return
	}
	if len(req.Messages) == 0 {
		badRequest(w, "messages must be a non-empty array")
		return
	}
	if req.Model == "" {
		badRequest(w, "model is required")
		return
	}
	c, b, ok := s.beginAnswer(w, r, req.Model, req.Stream)
	defer c.end()
	if !ok {
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > 128 {
		badRequest(w, "n must be between 1 and 128")
		return
	}
	reps := make([]reply, n)
	for i := range reps {
		var err error
		if reps[i], err = answer(&req, b, i); err != nil {
			badRequest(w, err.Error())
			return
		}
	}
	prompt := promptTokens(&req)
	id := fmt.Sprintf("chatcmpl-sim%016x", seed(req.Model, reps[0].text))
	created := time.Now().Unix()
	if req.Stream {
		c.completed = s.stream(w, r, &req, reps, b, id, created, prompt)
		return
	}
	resp := completion(req.Model, reps, b, id, created, prompt)
	withLogprobs(&req, &resp)
	writeJSON(w, http.StatusOK, resp)
	c.completed = true
}

// beginAnswer counts a chat request (streamed or not) and begins it as every call does.
func (s *Server) beginAnswer(w http.ResponseWriter, r *http.Request, model string, stream bool) (*call, Behaviour, bool) {
	if stream {
		s.streams.Add(1)
	} else {
		s.chats.Add(1)
	}
	return s.begin(w, r, model)
}

// completion is the chat.completion of the replies.
func completion(model string, reps []reply, b Behaviour, id string, created int64, prompt int) wire.ChatResponse {
	resp := wire.ChatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		SystemFingerprint: "fp_aiservice_sim",
	}
	for i, rep := range reps {
		msg := wire.Message{Role: "assistant", Content: wire.TextContent(rep.text)}
		if rep.toolCall != nil {
			msg.Content = wire.Content{Null: true}
			msg.ToolCalls = []wire.ToolCall{*rep.toolCall}
		}
		resp.Choices = append(resp.Choices, wire.Choice{Index: i, Message: msg, FinishReason: rep.finishReason})
	}
	if !b.OmitUsage {
		resp.Usage = usage(prompt, completionTokens(reps))
	}
	return resp
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *wire.ChatRequest, reps []reply, b Behaviour, id string, created int64, prompt int) bool {
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	if !wait(r, b.TimeToFirstToken) {
		return false
	}
	wantLogprobs, top := req.WantsLogprobs()
	chunk := func(index int, d wire.Delta, finish *string) wire.Chunk {
		ch := wire.ChunkChoice{Index: index, Delta: d, FinishReason: finish}
		if wantLogprobs && d.Content != "" {
			ch.Logprobs = &wire.ChoiceLogprobs{Content: logprobs(d.Content, top)}
		}
		return wire.Chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, Choices: []wire.ChunkChoice{ch}}
	}
	send := func(c wire.Chunk) bool {
		data, _ := json.Marshal(c)
		return sse.WriteData(w, data) == nil
	}
	// With n > 1 the choices' chunks interleave, one step of each choice in turn, as OpenAI's do.
	perChoice := make([][]wire.Delta, len(reps))
	steps := 0
	for i, rep := range reps {
		perChoice[i] = deltas(rep, b.Chunks)
		steps = max(steps, len(perChoice[i]))
	}
	sent := 0
	for step := range steps {
		if step > 0 && !wait(r, b.InterTokenDelay) {
			return false
		}
		for i, ds := range perChoice {
			if step >= len(ds) {
				continue
			}
			if b.CutStreamAfter > 0 && sent >= b.CutStreamAfter {
				dropConnection(w)
				return false
			}
			if !send(chunk(i, ds[step], nil)) {
				return false
			}
			sent++
		}
	}
	for i, rep := range reps {
		finish := rep.finishReason
		if !send(chunk(i, wire.Delta{}, &finish)) {
			return false
		}
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !b.OmitUsage {
		u := wire.Chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []wire.ChunkChoice{}, Usage: usage(prompt, completionTokens(reps))}
		if !send(u) {
			return false
		}
	}
	return sse.WriteDone(w) == nil
}

// deltas is one choice's stream: text in n pieces, or a tool call as OpenAI streams it — id,
// type and name first with empty arguments, then the arguments in pieces.
func deltas(rep reply, n int) []wire.Delta {
	if rep.toolCall == nil {
		var out []wire.Delta
		for i, p := range split(rep.text, n) {
			d := wire.Delta{Content: p}
			if i == 0 {
				d.Role = "assistant"
			}
			out = append(out, d)
		}
		return out
	}
	zero := 0
	head := wire.ToolCall{Index: &zero, ID: rep.toolCall.ID, Type: "function", Function: wire.FunctionCall{Name: rep.toolCall.Function.Name}}
	out := []wire.Delta{{Role: "assistant", ToolCalls: []wire.ToolCall{head}}}
	for _, piece := range splitBytes(rep.toolCall.Function.Arguments, n) {
		out = append(out, wire.Delta{ToolCalls: []wire.ToolCall{{Index: &zero, Function: wire.FunctionCall{Arguments: piece}}}})
	}
	return out
}

// splitBytes cuts s into at most n pieces of about equal length, on rune boundaries.
func splitBytes(s string, n int) []string {
	r := []rune(s)
	n = max(1, min(n, len(r)))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, string(r[i*len(r)/n:(i+1)*len(r)/n]))
	}
	return out
}

// split cuts text into n pieces on word boundaries (fewer when there are fewer words).
func split(text string, n int) []string {
	if n <= 0 {
		n = 8
	}
	fields := strings.SplitAfter(text, " ")
	if len(fields) < n {
		n = len(fields)
	}
	out := make([]string, 0, n)
	per := (len(fields) + n - 1) / n
	for i := 0; i < len(fields); i += per {
		end := min(i+per, len(fields))
		out = append(out, strings.Join(fields[i:end], ""))
	}
	return out
}

func usage(prompt, completion int) *wire.Usage {
	return &wire.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion,
		PromptTokensDetails: &wire.PromptTokensDetails{}}
}

func promptTokens(req *wire.ChatRequest) int {
	texts := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		texts[i] = m.Content.Text
	}
	return tokens.Prompt(texts)
}

func completionTokens(reps []reply) int {
	n := 0
	for _, rep := range reps {
		if rep.toolCall != nil {
			n += tokens.Count(rep.toolCall.Function.Name + rep.toolCall.Function.Arguments)
		} else {
			n += tokens.Count(rep.text)
		}
	}
	return n
}

// expression finds arithmetic in a question: numbers joined by operators, with parentheses.
var expression = regexp.MustCompile(`[-(]*\s*\d+(?:\.\d+)?(?:\s*[-+*/%^]\s*[-(]*\s*\d+(?:\.\d+)?\s*\)*)+\)*`)

var timeWords = regexp.MustCompile(`(?i)\b(time|clock|date|today|now)\b`)

// answer decides the reply, as a model would: after a tool result it states that result; with
// tools offered it may call one (callTool); with a response format it answers JSON that
// follows the schema; otherwise prose. A request the model could not honour (a schema nothing
// satisfies, a tool_choice naming no offered tool) is a requestError.
func answer(req *wire.ChatRequest, b Behaviour, index int) (reply, error) {
	last := req.Messages[len(req.Messages)-1]
	if last.Role == "tool" {
		return reply{text: "The result is " + strings.TrimSpace(last.Content.Text) + ".", finishReason: "stop"}, nil
	}
	if call, err := callTool(req, last.Content.Text); err != nil || call != nil {
		return reply{toolCall: call, finishReason: "tool_calls"}, err
	}
	if schema, ok, err := structured(req.ResponseFormat); err != nil || ok {
		if err != nil {
			return reply{}, err
		}
		out, err := Instance(schema, last.Content.Text+strings.Repeat(" ", index))
		if err != nil {
			return reply{}, badRequestf("response_format.json_schema.schema: %v", err)
		}
		return reply{text: string(out), finishReason: "stop"}, nil
	}
	n := b.OutputTokens
	if n <= 0 {
		n = 24
	}
	limit := req.MaxOutputTokens()
	texts := make([]string, 0, len(req.Messages)+2)
	texts = append(texts, req.Model)
	if index > 0 {
		texts = append(texts, strconv.Itoa(index)) // each of n choices is its own
	}
	for _, m := range req.Messages {
		texts = append(texts, m.Role, m.Content.Text)
	}
	rng := rand.New(rand.NewPCG(seed(texts...), 7))
	var sb strings.Builder
	finish := "stop"
	for i := 0; i < n; i++ {
		w := words[rng.IntN(len(words))]
		if i == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		next := w
		if i > 0 {
			next = " " + w
		}
		if limit > 0 && tokens.Count(sb.String()+next) > limit {
			finish = "length"
			break
		}
		sb.WriteString(next)
	}
	if finish == "stop" {
		sb.WriteString(".")
	}
	return reply{text: sb.String(), finishReason: finish}, nil
}
