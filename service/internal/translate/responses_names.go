package translate

import (
	"errors"
	"strings"

	"aiservice/service/internal/apperr"
)

// responsesFields are the chat fields ToChat fills from differently named Responses fields;
// the others (temperature, top_p, user, tool_choice, parallel_tool_calls) keep their names.
var responsesFields = map[string]string{
	"response_format": "text.format",
	"max_tokens":      "max_output_tokens",
	"logprobs":        "top_logprobs",
	"stream_options":  "stream",
}

// InResponsesTerms names the field of a 400 by what a Responses client sent. A chat route's own
// translation refuses what its upstream cannot take (Anthropic's Messages has no
// response_format) in chat's terms, but the client sent ToChat's source, not its output: the
// error must name `text.format`. Messages are named by `input` as a whole, the chat path kept
// in the message: instructions, the stored history and the input items merge into them, so an
// index of one is not an index of the other.
func InResponsesTerms(err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.InvalidRequest || e.Param == "" {
		return err
	}
	head, rest := e.Param, ""
	if i := strings.IndexAny(e.Param, ".["); i >= 0 {
		head, rest = e.Param[:i], e.Param[i:]
	}
	u := *e
	switch {
	case responsesFields[head] != "":
		u.Param = responsesFields[head] + rest
	case head == "tools": // tools[i].function.name: Responses tools are flat, and ToChat keeps their order
		u.Param = head + strings.Replace(rest, ".function", "", 1)
	case head == "messages":
		u.Param = "input"
	default:
		return err
	}
	if tail, ok := strings.CutPrefix(e.Message, e.Param); ok {
		u.Message = u.Param + tail
		if u.Param == "input" {
			u.Message = "input (as the chat message " + e.Param + ")" + tail
		}
	}
	return &u
}
