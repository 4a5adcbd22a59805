package provider

import (
	"bytes"

	"aiservice/service/internal/wire"
)

// Completion is an upstream's chat completion as received, once ReadCompletion checked it:
// the body with the spans of the fields the gateway reads and patches, and the usage parsed.
// One scan serves both the check and the gateway: the gateway does not scan the body again.
type Completion struct {
	Body []byte
	// Model, Usage and Choices are the spans of those top-level fields in Body; Model and
	// Usage are not Found when absent. Choices is always there: a non-empty array of objects.
	Model, Usage, Choices wire.Span
	// Parsed is the usage, plausible; nil when the answer has none or it is null.
	Parsed *wire.Usage
}

// chatCompletion is the object a chat completion names itself, quoted as JSON writes it.
var chatCompletion = []byte(`"chat.completion"`)

// ReadCompletion checks a chat completion and reads what the gateway needs of it. A body that
// is valid JSON but not a chat completion — another object, no choices, a choice that is not
// an object, or a usage with negative or absurd counts — is an *InvalidError: such an answer
// must not reach the client as a success.
func ReadCompletion(b []byte) (Completion, error) {
	var f [4]wire.Span
	if wire.ObjectFieldsInto(f[:], b, "object", "model", "usage", "choices") != nil {
		return Completion{}, invalid("chat completion")
	}
	if o := f[0]; o.Found() && !bytes.Equal(b[o.Start:o.End], chatCompletion) {
		// Compared as decoded only when the bytes differ: an escaped name is still the name.
		if obj, _ := wire.UnquoteString(b[o.Start:o.End]); obj != "chat.completion" {
			return Completion{}, invalid("chat completion: object is not chat.completion")
		}
	}
	c := Completion{Body: b, Model: f[1], Usage: f[2], Choices: f[3]}
	if err := checkChoices(b, c.Choices); err != nil {
		return Completion{}, err
	}
	if u := c.Usage; u.Found() && string(b[u.Start:u.End]) != "null" {
		usage, ok := wire.ParseUsage(b[u.Start:u.End])
		if !ok || !plausible(usage) {
			return Completion{}, invalid("chat completion: usage is not plausible")
		}
		c.Parsed = usage
	}
	return c, nil
}

// checkChoices reports choices that are absent, not an array, empty, or hold a non-object.
func checkChoices(b []byte, s wire.Span) error {
	if !s.Found() || b[s.Start] != '[' {
		return invalid("chat completion: no choices")
	}
	choices := b[s.Start:s.End]
	var buf [8]wire.Span // most answers have one choice: no allocation for up to eight
	elems, _ := wire.ArrayElementsInto(buf[:0], choices)
	if len(elems) == 0 {
		return invalid("chat completion: no choices")
	}
	for _, e := range elems {
		if choices[e.Start] != '{' {
			return invalid("chat completion: a choice is not an object")
		}
	}
	return nil
}
