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
	"slices"
	"strings"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

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
	b, err := io.ReadAll(r.Body)
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

// Decode parses JSON bytes into v with the API's error mapping (exported for fuzzing).
func Decode(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return apperr.Invalid("", "The request body is empty; send a JSON object.")
	}
	// json.Unmarshal also rejects trailing data after the value.
	if err := json.Unmarshal(b, v); err != nil {
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
	return nil
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
		p := fmt.Sprintf("messages[%d]", i)
		if !slices.Contains(roles, m.Role) {
			return apperr.Invalid(p+".role", "%s.role must be one of %s, not %q.", p, strings.Join(roles, ", "), m.Role)
		}
		if (m.Content.Null || !m.Content.Set) && !(m.Role == "assistant" && len(m.ToolCalls) > 0) {
			return apperr.Invalid(p+".content", "%s.content is required.", p)
		}
		if m.Role == "tool" && m.ToolCallID == "" {
			return apperr.Invalid(p+".tool_call_id", "%s.tool_call_id is required for tool messages.", p)
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
	case req.N != nil && *req.N != 1:
		return apperr.Invalid("n", "n must be 1: the gateway returns one choice.")
	case req.Stop != nil && len(*req.Stop) > 4:
		return apperr.Invalid("stop", "stop takes at most 4 sequences.")
	}
	for i, t := range req.Tools {
		if t.Type != "function" {
			return apperr.Invalid(fmt.Sprintf("tools[%d].type", i), "tools[%d].type must be \"function\".", i)
		}
		if t.Function.Name == "" {
			return apperr.Invalid(fmt.Sprintf("tools[%d].function.name", i), "tools[%d].function.name is required.", i)
		}
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
