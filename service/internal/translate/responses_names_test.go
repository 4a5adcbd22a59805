package translate

import (
	"errors"
	"testing"

	"aiservice/service/internal/apperr"
)

func TestInResponsesTerms(t *testing.T) {
	cause := errors.New("upstream said no")
	for _, tc := range []struct {
		name           string
		err            error
		param, message string
	}{
		{"response_format is text.format", apperr.Invalid("response_format", "response_format cannot be translated to the Anthropic dialect of this model's upstream."),
			"text.format", "text.format cannot be translated to the Anthropic dialect of this model's upstream."},
		{"a field of response_format", apperr.Invalid("response_format.json_schema.schema", "response_format.json_schema.schema must be an object."),
			"text.format.json_schema.schema", "text.format.json_schema.schema must be an object."},
		{"max_tokens", apperr.Invalid("max_tokens", "max_tokens is too large."), "max_output_tokens", "max_output_tokens is too large."},
		{"a chat tool's function field", apperr.Invalid("tools[1].function.parameters", "tools[1].function.parameters must be an object."),
			"tools[1].parameters", "tools[1].parameters must be an object."},
		{"a message is the input", apperr.Invalid("messages[2].tool_calls[0].function.arguments", "messages[2].tool_calls[0].function.arguments must be a JSON object."),
			"input", "input (as the chat message messages[2].tool_calls[0].function.arguments) must be a JSON object."},
		{"a message not starting with the param keeps its text", apperr.Invalid("max_tokens", "Too many tokens."), "max_output_tokens", "Too many tokens."},
		{"a field of the same name", apperr.Invalid("temperature", "temperature must be at most 1 for this model."), "temperature", "temperature must be at most 1 for this model."},
		{"not a 400", &apperr.Error{Kind: apperr.Upstream, Param: "max_tokens", Message: "max_tokens", Cause: cause}, "max_tokens", "max_tokens"},
		{"no param", apperr.Invalid("", "The body is not JSON."), "", "The body is not JSON."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *apperr.Error
			if !errors.As(InResponsesTerms(tc.err), &e) || e.Param != tc.param || e.Message != tc.message {
				t.Fatalf("got %+v; want param %q, message %q", e, tc.param, tc.message)
			}
		})
	}
	wrapped := &apperr.Error{Kind: apperr.InvalidRequest, Param: "response_format", Message: "x", Cause: cause}
	if !errors.Is(InResponsesTerms(wrapped), cause) {
		t.Error("the cause is lost")
	}
}
