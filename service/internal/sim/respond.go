package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"aiservice/service/internal/wire"
)

// requestError is what the simulator refuses as OpenAI does: a 400 whose message names why.
type requestError string

func (e requestError) Error() string { return string(e) }

func badRequestf(format string, args ...any) error { return requestError(fmt.Sprintf(format, args...)) }

// jsonObjectSchema is what a json_object answer looks like: OpenAI only promises an object.
var jsonObjectSchema = []byte(`{"type":"object","properties":{"answer":{"type":"string"},"topic":{"type":"string"},"confidence":{"type":"number","minimum":0,"maximum":1}},"required":["answer","topic","confidence"]}`)

// structured reads response_format: the schema the answer must follow, if any.
func structured(raw json.RawMessage) ([]byte, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, false, badRequestf("response_format must be an object with a type")
	}
	switch rf.Type {
	case "text":
		return nil, false, nil
	case "json_object":
		return jsonObjectSchema, true, nil
	case "json_schema":
		if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
			return nil, false, badRequestf("response_format.json_schema.schema is required")
		}
		return rf.JSONSchema.Schema, true, nil
	}
	return nil, false, badRequestf("response_format.type %q is not one of text, json_object, json_schema", rf.Type)
}

// choice is tool_choice: none, auto (the default), required, or one named function.
type choice struct {
	mode string // "none", "auto", "required", "named"
	name string
}

func toolChoice(raw json.RawMessage) (choice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return choice{mode: "auto"}, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none", "auto", "required":
			return choice{mode: mode}, nil
		}
		return choice{}, badRequestf("tool_choice %q is not none, auto or required", mode)
	}
	var named struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Function.Name == "" {
		return choice{}, badRequestf("tool_choice must name a function")
	}
	return choice{mode: "named", name: named.Function.Name}, nil
}

// callTool decides whether the model calls a tool, which one and with what arguments — as a
// tool-using model would: the named tool, or the tool whose name and description best match
// the prompt, with arguments that validate against its parameters schema. The calculator and
// the clock keep their exact arguments, so agents compute real answers offline.
func callTool(req *wire.ChatRequest, prompt string) (*wire.ToolCall, error) {
	if len(req.Tools) == 0 {
		return nil, nil
	}
	c, err := toolChoice(req.ToolChoice)
	if err != nil || c.mode == "none" {
		return nil, err
	}
	var tool *wire.Tool
	if c.mode == "named" {
		for i := range req.Tools {
			if req.Tools[i].Function.Name == c.name {
				tool = &req.Tools[i]
			}
		}
		if tool == nil {
			return nil, badRequestf("tool_choice names %q, which is not among the tools", c.name)
		}
	} else {
		tool = bestTool(req.Tools, prompt)
		if tool == nil && c.mode == "required" {
			tool = &req.Tools[0]
		}
	}
	if tool == nil {
		return nil, nil
	}
	args, err := arguments(tool, prompt)
	if err != nil {
		return nil, err
	}
	return &wire.ToolCall{ID: fmt.Sprintf("call_%012x", seed(tool.Function.Name, prompt)&0xffffffffffff), Type: "function",
		Function: wire.FunctionCall{Name: tool.Function.Name, Arguments: string(args)}}, nil
}

func arguments(tool *wire.Tool, prompt string) ([]byte, error) {
	switch tool.Function.Name {
	case "calculator":
		if expr := strings.TrimSpace(expression.FindString(prompt)); expr != "" {
			return json.Marshal(map[string]string{"expression": expr})
		}
	case "clock":
		return []byte("{}"), nil
	}
	params := tool.Function.Parameters
	if len(params) == 0 || string(params) == "null" {
		return []byte("{}"), nil
	}
	args, err := Instance(params, prompt)
	if err != nil {
		return nil, badRequestf("tools[%s].function.parameters: %v", tool.Function.Name, err)
	}
	return args, nil
}

// bestTool is the tool whose name and description share the most words with the prompt (the
// calculator for arithmetic, the clock for questions of time); nil when none shares any.
func bestTool(tools []wire.Tool, prompt string) *wire.Tool {
	words := map[string]bool{}
	for _, w := range splitWords(prompt) {
		words[w] = true
	}
	var best *wire.Tool
	bestScore := 0
	for i := range tools {
		t := &tools[i]
		score := 0
		switch {
		case t.Function.Name == "calculator" && expression.MatchString(prompt):
			score = 100
		case t.Function.Name == "clock" && timeWords.MatchString(prompt):
			score = 100
		}
		seen := map[string]bool{}
		for _, w := range splitWords(t.Function.Name + " " + t.Function.Description) {
			if words[w] && !seen[w] {
				seen[w] = true
				score++
			}
		}
		if score > bestScore {
			best, bestScore = t, score
		}
	}
	return best
}

// stopWords say nothing about which tool fits.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields("the and for with what how are you this that from into your about does can will should would please tell give get set list show make use using when where which who why") {
		stopWords[w] = true
	}
}

// splitWords lowercases and splits on anything but letters and digits, and between the words
// of a camelCase or snake_case name; words of fewer than three letters carry no meaning here.
func splitWords(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if w := strings.ToLower(string(cur)); len(cur) >= 3 && !stopWords[w] {
			out = append(out, w)
		}
		cur = cur[:0]
	}
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r) && prevLower:
			flush()
			cur = append(cur, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur = append(cur, r)
		default:
			flush()
		}
		prevLower = unicode.IsLower(r)
	}
	flush()
	return out
}
