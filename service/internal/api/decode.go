package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/decoder"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// requestTypes are the bodies the API decodes: pretouch compiles sonic's decoder for each, and
// the differential fuzz target (FuzzDecodeAgrees) decodes each both ways.
var requestTypes = []reflect.Type{
	reflect.TypeFor[wire.ChatRequest](), reflect.TypeFor[wire.MessagesRequest](), reflect.TypeFor[wire.ResponsesRequest](),
	reflect.TypeFor[wire.EmbeddingRequest](), reflect.TypeFor[wire.ImageRequest](), reflect.TypeFor[runRequest](),
}

// pretouch compiles sonic's decoder for every request type before the first request: otherwise
// the first body of each type pays for it (1–7 ms each on the 2-core machine; all six 29 ms
// once per process). A failure only leaves the compiling to the first decode.
func pretouch() error {
	for _, t := range requestTypes {
		if err := decoder.Pretouch(t); err != nil {
			return fmt.Errorf("compiling the decoder of %v: %w", t, err)
		}
	}
	return nil
}

// decodeJSON reads one JSON value from the (size-capped) body into v, mapping every failure to
// a typed 4xx naming the problem: empty body, too large, malformed, wrong type, trailing data.
// The body must arrive before the route's deadline: a client that trickles it gets a 408
// rather than holding the handler (the server has no global ReadTimeout, which would cut
// long streams).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	_, err := readJSON(w, r, v)
	return err
}

// readJSON is decodeJSON that also returns the body's bytes.
func readJSON(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &apperr.Error{Kind: apperr.UnsupportedMediaType, Code: "unsupported_media_type",
				Message: fmt.Sprintf("Content-Type must be application/json, not %q.", ct)}
		}
	}
	rc := http.NewResponseController(w)
	if dl, ok := r.Context().Deadline(); ok {
		_ = rc.SetReadDeadline(dl)
	}
	b, err := readAll(r.Body, r.ContentLength)
	if err == nil {
		// Cleared at once: net/http's background read (which notices a client going away)
		// must not inherit the deadline and cancel the request while it is being answered.
		// After a failed read it stays: net/http then gives up discarding the unread body
		// instead of blocking on it before the error response can go out.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &apperr.Error{Kind: apperr.RequestTimeout, Code: "request_body_timeout",
				Message: "The request body did not arrive within this route's deadline."}
		}
		if errors.As(err, &tooLarge) {
			return nil, &apperr.Error{Kind: apperr.PayloadTooLarge, Code: "request_too_large",
				Message: fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit)}
		}
		return nil, apperr.Wrap(apperr.InvalidRequest, err, "The request body could not be read.")
	}
	return b, Decode(b, v)
}

// presizeMax is how much of a declared Content-Length readAll allocates before the bytes
// arrive: the length is the client's claim (limits caps it at max_body_bytes), and a client
// that claims 1 MiB and sends nothing must not hold 1 MiB.
const presizeMax = 64 << 10

// readAll is io.ReadAll into a buffer of the declared length: io.ReadAll starts at 512 bytes and
// grows, which was 14 % of the bytes a realistic chat completion allocated (0.5–2 KB prompts).
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, min(declared, presizeMax)+1) // +1: the read that sees EOF needs room
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the growth, as io.ReadAll does
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Decode parses JSON bytes into v with the API's error mapping (exported for fuzzing).
func Decode(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return apperr.Invalid("", "The request body is empty; send a JSON object.")
	}
	if err := unmarshal(b, v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return apperr.Invalid("", "The body is not valid JSON: %s (at byte %d).", syn.Error(), syn.Offset)
		case errors.As(err, &typ):
			if typ.Field == "" {
				return apperr.Invalid("", "The body must be a JSON object, not %s.", typ.Value)
			}
			return apperr.Invalid(typ.Field, "%s must be %s, not %s.", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
		}
		return apperr.Invalid("", "The body could not be decoded: %s.", err.Error())
	}
	// What was decoded is validated, priced and routed; the bytes are forwarded. A repeated
	// key or a case variant of a field would let the two disagree (encoding/json folds case
	// and keeps the last; an upstream may do neither), so both are refused.
	if err := wire.CheckKeys(b, reflect.TypeOf(v)); err != nil {
		var ke *wire.KeyError
		if errors.As(err, &ke) {
			if ke.Field != "" {
				return apperr.Invalid(ke.Path, "The key %q differs from the field %q only by case; send it as %q.", apperr.Excerpt(ke.Path), ke.Field, ke.Field)
			}
			return apperr.Invalid(ke.Path, "The key %q appears more than once in one object.", apperr.Excerpt(ke.Path))
		}
		return apperr.Invalid("", "The body could not be decoded: %s.", err.Error())
	}
	return nil
}

// unmarshal is json.Unmarshal, faster: sonic decodes a body that is well formed, and
// encoding/json decodes one that sonic refuses, so that every refusal is explained by the
// error types and messages the API maps (and a body sonic alone refused would still be read as
// encoding/json reads it). FuzzDecodeAgrees checks that the two accept the same bodies and
// decode them to the same values. Measured on the realistic profile's prompts (1.3 KB chat
// body, BenchmarkDecoders): 8.2–11.5 µs with encoding/json (half of it the validity scan it runs
// before decoding), 2.2–2.6 µs with sonic; see docs/performance.md.
//
// A body that is not valid UTF-8 goes to encoding/json at once: sonic mends invalid bytes
// inside a json.RawMessage (as U+FFFD), which encoding/json keeps as they came.
func unmarshal(b []byte, v any) error {
	if utf8.Valid(b) && sonic.ConfigStd.Unmarshal(b, v) == nil {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero() // sonic may have filled part of v before it stopped
	return json.Unmarshal(b, v)         // it also rejects trailing data after the value
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	}
	return "a number"
}

var roles = []string{"system", "developer", "user", "assistant", "tool"}

// validateChat checks a chat request and fills the default model.
func validateChat(req *wire.ChatRequest, defaultModel string) error {
	if req.Model == "" {
		req.Model = defaultModel
	}
	if req.Messages == nil {
		return apperr.Invalid("messages", "messages is required.")
	}
	if len(req.Messages) == 0 {
		return apperr.Invalid("messages", "messages must contain at least one message.")
	}
	for i, m := range req.Messages {
		if err := validateMessage(m); err != nil {
			return err.Under(fmt.Sprintf("messages[%d]", i))
		}
	}
	switch {
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return apperr.Invalid("temperature", "temperature must be between 0 and 2.")
	case req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1):
		return apperr.Invalid("top_p", "top_p must be between 0 and 1.")
	case req.MaxTokens != nil && (*req.MaxTokens < 1 || *req.MaxTokens > 1_000_000):
		return apperr.Invalid("max_tokens", "max_tokens must be between 1 and 1000000.")
	case req.MaxCompletionTokens != nil && (*req.MaxCompletionTokens < 1 || *req.MaxCompletionTokens > 1_000_000):
		return apperr.Invalid("max_completion_tokens", "max_completion_tokens must be between 1 and 1000000.")
	case req.N != nil && (*req.N < 1 || *req.N > 128):
		return apperr.Invalid("n", "n must be between 1 and 128.")
	case req.Stop != nil && len(*req.Stop) > 4:
		return apperr.Invalid("stop", "stop takes at most 4 sequences.")
	case req.PresencePenalty != nil && !(*req.PresencePenalty >= -2 && *req.PresencePenalty <= 2):
		return apperr.Invalid("presence_penalty", "presence_penalty must be between -2 and 2.")
	case req.FrequencyPenalty != nil && !(*req.FrequencyPenalty >= -2 && *req.FrequencyPenalty <= 2):
		return apperr.Invalid("frequency_penalty", "frequency_penalty must be between -2 and 2.")
	}
	for i, t := range req.Tools {
		if t.Type != "function" {
			return apperr.Invalid(fmt.Sprintf("tools[%d].type", i), "tools[%d].type must be \"function\".", i)
		}
		if t.Function.Name == "" {
			return apperr.Invalid(fmt.Sprintf("tools[%d].function.name", i), "tools[%d].function.name is required.", i)
		}
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && p[0] != '{' {
			return apperr.Invalid(fmt.Sprintf("tools[%d].function.parameters", i), "tools[%d].function.parameters must be a JSON Schema object.", i)
		}
	}
	if err := validateToolChoice(req.ToolChoice, req.Tools); err != nil {
		return err
	}
	return validateResponseFormat(req.ResponseFormat)
}

// validateMessage checks one chat message; its fields are named from the message (apperr.Under).
func validateMessage(m wire.Message) *apperr.Error {
	switch {
	case !slices.Contains(roles, m.Role):
		return apperr.Invalid(".role", ".role must be one of %s, not %q.", strings.Join(roles, ", "), m.Role)
	case (m.Content.Null || !m.Content.Set) && !(m.Role == "assistant" && len(m.ToolCalls) > 0):
		return apperr.Invalid(".content", ".content is required.")
	case m.Role == "tool" && m.ToolCallID == "":
		return apperr.Invalid(".tool_call_id", ".tool_call_id is required for tool messages.")
	}
	return nil
}

// validateToolChoice accepts what OpenAI does: "none", "auto", "required" (the last two need
// tools), or {"type":"function","function":{"name":N}} naming an offered tool.
func validateToolChoice(raw json.RawMessage, tools []wire.Tool) error {
	raw = bytes.TrimSpace(raw)
	if done, err := toolChoiceMode(raw, len(tools) > 0); done {
		return err
	}
	var choice struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if !decodeExact(raw, &choice) || choice.Type != "function" || choice.Function.Name == "" {
		return apperr.Invalid("tool_choice", `tool_choice must be none, auto, required or {"type":"function","function":{"name":...}}.`)
	}
	if !slices.ContainsFunc(tools, func(t wire.Tool) bool { return t.Function.Name == choice.Function.Name }) {
		return apperr.Invalid("tool_choice", "tool_choice names the function %q, which is not in tools.", apperr.Excerpt(choice.Function.Name))
	}
	return nil
}

// toolChoiceMode checks a tool_choice that is absent, null or a mode — "none", "auto",
// "required" (the last two need tools) — as chat and Responses both have them; done is false
// for an object, which is the caller's to check.
func toolChoiceMode(raw json.RawMessage, hasTools bool) (done bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return true, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) != nil {
		return false, nil
	}
	switch {
	case mode != "none" && mode != "auto" && mode != "required":
		return true, apperr.Invalid("tool_choice", "tool_choice must be none, auto, required or a tool object, not %q.", apperr.Excerpt(mode))
	case mode != "none" && !hasTools:
		return true, apperr.Invalid("tool_choice", "tool_choice %q needs tools.", mode)
	}
	return true, nil
}

// decodeExact decodes a nested raw value the gateway reads, refusing what CheckKeys refuses:
// what is checked must be what the upstream reads from the same bytes.
func decodeExact(raw []byte, v any) bool {
	return json.Unmarshal(raw, v) == nil && wire.CheckKeys(raw, reflect.TypeOf(v)) == nil
}

var responseFormats = []string{"text", "json_object", "json_schema"}

// validateResponseFormat accepts OpenAI's response_format types; json_schema needs a schema.
func validateResponseFormat(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name string `json:"name"`
		} `json:"json_schema"`
	}
	if !decodeExact(raw, &rf) || !slices.Contains(responseFormats, rf.Type) {
		return apperr.Invalid("response_format.type", "response_format.type must be one of %s.", strings.Join(responseFormats, ", "))
	}
	if rf.Type == "json_schema" && (rf.JSONSchema == nil || rf.JSONSchema.Name == "") {
		return apperr.Invalid("response_format.json_schema", "response_format.json_schema with a name is required for type json_schema.")
	}
	return nil
}

var (
	qualities = []string{"", "auto", "low", "medium", "high", "standard", "hd"}
	formats   = []string{"", "b64_json", "url"}
)

// validateImages checks an images request and fills the default model.
func validateImages(req *wire.ImageRequest, defaultModel string) error {
	if req.Model == "" {
		req.Model = defaultModel
	}
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		return apperr.Invalid("prompt", "prompt is required.")
	case len(req.Prompt) > 32000:
		return apperr.Invalid("prompt", "prompt must be at most 32000 characters.")
	case req.N != nil && (*req.N < 1 || *req.N > 10):
		return apperr.Invalid("n", "n must be between 1 and 10.")
	case req.Size != "" && !slices.Contains(wire.ImageSizes, req.Size):
		return apperr.Invalid("size", "size must be one of %s.", strings.Join(wire.ImageSizes, ", "))
	case !slices.Contains(qualities, req.Quality):
		return apperr.Invalid("quality", "quality must be one of auto, low, medium, high, standard, hd.")
	case !slices.Contains(formats, req.ResponseFormat):
		return apperr.Invalid("response_format", "response_format must be b64_json or url.")
	}
	return nil
}

// runRequest is the body of POST /v1/agents/{id}/runs.
type runRequest struct {
	Input *string `json:"input"`
}

func validateRun(req *runRequest) error {
	switch {
	case req.Input == nil:
		return apperr.Invalid("input", "input is required.")
	case strings.TrimSpace(*req.Input) == "":
		return apperr.Invalid("input", "input must not be empty.")
	case len(*req.Input) > 32000:
		return apperr.Invalid("input", "input must be at most 32000 characters.")
	}
	return nil
}
