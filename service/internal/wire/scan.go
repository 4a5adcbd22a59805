package wire

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Span is the byte range [Start, End) of a JSON value inside a document; Start < 0 when absent.
type Span struct{ Start, End int }

// Found reports whether the value was present.
func (s Span) Found() bool { return s.Start >= 0 }

var errScan = errors.New("invalid JSON")

// ObjectFields locates the values of some top-level keys of a JSON object without decoding it,
// so the gateway can read `usage` and patch `model` while passing the rest of an upstream
// answer through as bytes. Keys are compared raw (the wanted keys have no escapes). The
// document must be one object; anything else is an error.
func ObjectFields(b []byte, keys ...string) ([]Span, error) {
	out := make([]Span, len(keys))
	for i := range out {
		out[i] = Span{-1, -1}
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errScan
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errScan
		}
		ke, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		key := b[i+1 : ke-1]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, errScan
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, err
		}
		for k, want := range keys {
			if out[k].Start < 0 && string(key) == want {
				out[k] = Span{vs, ve}
			}
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return nil, errScan
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return out, trailing(b, i+1)
		default:
			return nil, errScan
		}
	}
}

// ArrayElements returns the spans of the elements of a JSON array.
func ArrayElements(b []byte) ([]Span, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errScan
	}
	var out []Span
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for {
		e, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, Span{i, e})
		i = skipWS(b, e)
		if i >= len(b) {
			return nil, errScan
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return out, nil
		default:
			return nil, errScan
		}
	}
}

// UnquoteString decodes a JSON string value.
func UnquoteString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' {
		return "", false
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		// JSON escapes are a subset of Go's except \/ ; fall back to the slow path.
		var out string
		if json.Unmarshal(b, &out) != nil {
			return "", false
		}
		return out, true
	}
	return s, true
}

func trailing(b []byte, i int) error {
	if skipWS(b, i) != len(b) {
		return errScan
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the closing quote of the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errScan
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errScan
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errScan
	}
	return j, nil
}
