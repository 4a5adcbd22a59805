package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// Limits of a Responses request that OpenAI states and the gateway enforces before any
// upstream is asked.
const (
	maxMetadataPairs   = 16
	maxMetadataKey     = 64
	maxMetadataValue   = 512
	maxInputItemsLimit = 100
)

var (
	inputRoles  = []string{"user", "assistant", "system", "developer"}
	textFormats = []string{"text", "json_object", "json_schema"}
	truncations = []string{"", "auto", "disabled"}
)

// validateResponses checks a Responses request against OpenAI's rules.
func validateResponses(req *wire.ResponsesRequest, defaultModel string) error {
	if req.Model == "" {
		req.Model = defaultModel
	}
	if !req.Input.Set || req.Input.BadShape {
		return apperr.Invalid("input", "input is required: a string or an array of input items.")
	}
	for i, it := range req.Input.Items {
		if err := validateItem(it); err != nil {
			return err.Under("input[" + strconv.Itoa(i) + "]")
		}
	}
	switch {
	case req.Temperature != nil && !(*req.Temperature >= 0 && *req.Temperature <= 2):
		return apperr.Invalid("temperature", "temperature must be between 0 and 2.")
	case req.TopP != nil && !(*req.TopP >= 0 && *req.TopP <= 1):
		return apperr.Invalid("top_p", "top_p must be between 0 and 1.")
	case req.MaxOutputTokens != nil && (*req.MaxOutputTokens < 16 || *req.MaxOutputTokens > 1_000_000):
		return apperr.Invalid("max_output_tokens", "max_output_tokens must be between 16 and 1000000.")
	case req.TopLogprobs != nil && (*req.TopLogprobs < 0 || *req.TopLogprobs > 20):
		return apperr.Invalid("top_logprobs", "top_logprobs must be between 0 and 20.")
	case !slices.Contains(truncations, req.Truncation):
		return apperr.Invalid("truncation", "truncation must be auto or disabled.")
	case len(req.Metadata) > maxMetadataPairs:
		return apperr.Invalid("metadata", "metadata has at most %d pairs.", maxMetadataPairs)
	}
	for k, v := range req.Metadata {
		if len(k) > maxMetadataKey || len(v) > maxMetadataValue {
			return apperr.Invalid("metadata", "metadata keys have at most %d characters and values at most %d.", maxMetadataKey, maxMetadataValue)
		}
	}
	for i, t := range req.Tools {
		var err *apperr.Error
		switch {
		case t.Type == "":
			err = apperr.Invalid(".type", ".type is required.")
		case t.Type == "function" && t.Name == "":
			err = apperr.Invalid(".name", ".name is required for function tools.")
		case t.Type == "function" && len(bytes.TrimSpace(t.Parameters)) > 0 && bytes.TrimSpace(t.Parameters)[0] != '{':
			err = apperr.Invalid(".parameters", ".parameters must be a JSON Schema object.")
		}
		if err != nil {
			return err.Under("tools[" + strconv.Itoa(i) + "]")
		}
	}
	if err := validateResponsesToolChoice(req.ToolChoice, req.Tools); err != nil {
		return err
	}
	return validateTextFormat(req.Text)
}

// validateItem checks one input item by its type; its fields are named from the item, and the
// caller places the error (apperr.Under), so a valid request builds no paths.
func validateItem(it wire.InputItem) *apperr.Error {
	switch it.Kind() {
	case "message":
		switch {
		case !slices.Contains(inputRoles, it.Role):
			return apperr.Invalid(".role", ".role must be one of %s, not %q.", strings.Join(inputRoles, ", "), apperr.Excerpt(it.Role))
		case it.Content.IsZero():
			return apperr.Invalid(".content", ".content is required.")
		}
	case "function_call":
		if it.CallID == "" || it.Name == "" {
			return apperr.Invalid("", " (function_call) needs call_id and name.")
		}
	case "item_reference":
		if it.ID == "" {
			return apperr.Invalid(".id", ".id is required for item_reference.")
		}
	case "function_call_output":
		if it.CallID == "" {
			return apperr.Invalid(".call_id", ".call_id is required for function_call_output.")
		}
	case "":
		return apperr.Invalid(".type", " needs a type (or a role, for a message).")
	}
	return nil
}

// validateResponsesToolChoice accepts "none", "auto", "required" (the last two need tools) and
// {"type":"function","name":N} naming an offered tool; other objects (hosted tools) pass on to
// an upstream that speaks Responses.
func validateResponsesToolChoice(raw json.RawMessage, tools []wire.ResponseTool) error {
	raw = bytes.TrimSpace(raw)
	if done, err := toolChoiceMode(raw, len(tools) > 0); done {
		return err
	}
	var choice struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if !decodeExact(raw, &choice) || choice.Type == "" {
		return apperr.Invalid("tool_choice", `tool_choice must be none, auto, required or {"type":"function","name":...}.`)
	}
	if choice.Type == "function" && !slices.ContainsFunc(tools, func(t wire.ResponseTool) bool { return t.Name == choice.Name }) {
		return apperr.Invalid("tool_choice", "tool_choice names the function %q, which is not in tools.", apperr.Excerpt(choice.Name))
	}
	return nil
}

// validateTextFormat accepts text, json_object and json_schema (with a name and a schema).
func validateTextFormat(t *wire.ResponseText) error {
	if t == nil || t.Format == nil {
		return nil
	}
	f := t.Format
	switch {
	case !slices.Contains(textFormats, f.Type):
		return apperr.Invalid("text.format.type", "text.format.type must be one of %s.", strings.Join(textFormats, ", "))
	case f.Type == "json_schema" && f.Name == "":
		return apperr.Invalid("text.format.name", "text.format.name is required for json_schema.")
	case f.Type == "json_schema" && (len(bytes.TrimSpace(f.Schema)) == 0 || bytes.TrimSpace(f.Schema)[0] != '{'):
		return apperr.Invalid("text.format.schema", "text.format.schema must be a JSON Schema object.")
	}
	return nil
}

// itemsPage reads input_items' query: order (asc|desc, default desc), limit (1–100, default 20).
func itemsPage(order, limit string) (asc bool, n int, err error) {
	switch order {
	case "", "desc":
	case "asc":
		asc = true
	default:
		return false, 0, apperr.Invalid("order", "order must be asc or desc.")
	}
	n = 20
	if limit != "" {
		if n, err = strconv.Atoi(limit); err != nil || n < 1 || n > maxInputItemsLimit {
			return false, 0, apperr.Invalid("limit", "limit must be an integer between 1 and %d.", maxInputItemsLimit)
		}
	}
	return asc, n, nil
}
