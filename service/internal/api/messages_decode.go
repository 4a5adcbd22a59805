package api

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// decodeMessages reads and validates a Messages request with the client's Anthropic headers;
// counting is count_tokens, which takes no max_tokens.
func (s *server) decodeMessages(c *gin.Context, counting bool) (*wire.MessagesRequest, bool) {
	var req wire.MessagesRequest
	raw, err := readJSON(c.Writer, c.Request, &req)
	if err == nil {
		err = ValidateMessages(&req, counting)
	}
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	req.Raw = raw
	req.Version, req.Beta = c.GetHeader("Anthropic-Version"), c.GetHeader("Anthropic-Beta")
	return &req, true
}

// Block types a client may send; the gateway reads text, image, tool_use and tool_result and
// passes the others to an Anthropic upstream (a translation refuses them by name).
var blockTypes = []string{"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
	"search_result", "server_tool_use", "web_search_tool_result", "container_upload"}

// ValidateMessages checks a Messages request as Anthropic's API does, naming the field in
// Anthropic's dotted form (messages.0.content.1.type).
func ValidateMessages(req *wire.MessagesRequest, counting bool) error {
	switch {
	case req.Model == "":
		return apperr.Invalid("model", "model: Field required.")
	case !counting && req.MaxTokens == nil:
		return apperr.Invalid("max_tokens", "max_tokens: Field required.")
	case req.MaxTokens != nil && (*req.MaxTokens < 1 || *req.MaxTokens > 1_000_000):
		return apperr.Invalid("max_tokens", "max_tokens must be between 1 and 1000000.")
	case len(req.Messages) == 0:
		return apperr.Invalid("messages", "messages: at least one message is required.")
	case req.Temperature != nil && !(*req.Temperature >= 0 && *req.Temperature <= 1):
		return apperr.Invalid("temperature", "temperature must be between 0 and 1.")
	case req.TopP != nil && !(*req.TopP >= 0 && *req.TopP <= 1):
		return apperr.Invalid("top_p", "top_p must be between 0 and 1.")
	case req.TopK != nil && *req.TopK < 0:
		return apperr.Invalid("top_k", "top_k must be at least 0.")
	case len(req.StopSequences) > 16:
		return apperr.Invalid("stop_sequences", "stop_sequences takes at most 16 sequences.")
	}
	if req.System != nil {
		if err := validateBlocks(req.System.Blocks, "user"); err != nil {
			return err.Under("system")
		}
	}
	for i, m := range req.Messages {
		if err := validateAMessage(m); err != nil {
			return err.Under("messages." + strconv.Itoa(i))
		}
	}
	return validateTools(req)
}

// The validators below name fields from the element they check; the caller places the error
// (apperr.Under), so a valid request builds no paths.

func validateAMessage(m wire.AMessage) *apperr.Error {
	switch {
	case m.Role != "user" && m.Role != "assistant":
		return apperr.Invalid(".role", ".role must be user or assistant, not %q.", apperr.Excerpt(m.Role))
	case m.Content == nil:
		return apperr.Invalid(".content", ".content: Field required.")
	}
	if err := validateBlocks(m.Content, m.Role); err != nil {
		return err.Under(".content")
	}
	return nil
}

func validateBlocks(blocks []wire.ABlock, role string) *apperr.Error {
	for j, b := range blocks {
		if err := validateBlock(b, role); err != nil {
			return err.Under("." + strconv.Itoa(j))
		}
	}
	return nil
}

func validateBlock(b wire.ABlock, role string) *apperr.Error {
	switch {
	case !slices.Contains(blockTypes, b.Type):
		return apperr.Invalid(".type", ".type: unknown content block type %q.", apperr.Excerpt(b.Type))
	case b.Type == "image" && (b.Source == nil || b.Source.Type != "base64" && b.Source.Type != "url"):
		return apperr.Invalid(".source", ".source must be a base64 or url source.")
	case b.Type == "tool_use" && (role != "assistant" || b.ID == "" || b.Name == ""):
		return apperr.Invalid("", ": a tool_use block is an assistant's, with an id and a name.")
	case b.Type == "tool_use" && len(b.Input) > 0 && bytes.TrimSpace(b.Input)[0] != '{':
		return apperr.Invalid(".input", ".input must be an object.")
	case b.Type == "tool_result" && (role != "user" || b.ToolUseID == ""):
		return apperr.Invalid("", ": a tool_result block is a user's, with a tool_use_id.")
	}
	return nil
}

func validateTools(req *wire.MessagesRequest) error {
	names := map[string]bool{}
	for i, t := range req.Tools {
		var err *apperr.Error
		switch {
		case t.Name == "":
			err = apperr.Invalid(".name", ".name: Field required.")
		case (t.Type == "" || t.Type == "custom") && (len(t.InputSchema) == 0 || bytes.TrimSpace(t.InputSchema)[0] != '{'):
			err = apperr.Invalid(".input_schema", ".input_schema must be a JSON Schema object.")
		}
		if err != nil {
			return err.Under("tools." + strconv.Itoa(i))
		}
		names[t.Name] = true
	}
	c := req.ToolChoice
	if c == nil {
		return nil
	}
	switch c.Type {
	case "auto", "any", "none":
	case "tool":
		if !names[c.Name] {
			return apperr.Invalid("tool_choice.name", "tool_choice.name must name one of the tools, not %q.", apperr.Excerpt(c.Name))
		}
	default:
		return apperr.Invalid("tool_choice.type", "tool_choice.type must be auto, any, tool or none, not %q.", apperr.Excerpt(c.Type))
	}
	return nil
}
