package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Span is the byte range [Start, End) of a JSON value inside a document; Start < 0 when absent.
type Span struct{ Start, End int }

// Found reports whether the value was present.
func (s Span) Found() bool { return s.Start >= 0 }

var errScan = errors.New("invalid JSON")

// maxDepth is encoding/json's maxNestingDepth: a document is accepted here exactly when
// json.Valid accepts it, so callers can drop their own json.Valid call.
const maxDepth = 10000

// ObjectFields locates the values of some top-level keys of a JSON object without decoding it,
// so the gateway can read `usage` and patch `model` while passing the rest of an upstream
// answer through as bytes. Keys are compared as JSON decodes them (an escaped key is
// unescaped first: `"mod\u0065l"` is `model`) and the first occurrence of a repeated key wins. The error is nil exactly when b is valid JSON
// (as json.Valid sees it) whose value is an object.
func ObjectFields(b []byte, keys ...string) ([]Span, error) {
	out := make([]Span, len(keys))
	if err := ObjectFieldsInto(out, b, keys...); err != nil {
		return nil, err
	}
	return out, nil
}

// ObjectFieldsInto is ObjectFields writing the spans to dst, which must have one element per
// key, so that a hot caller can keep them in a stack array. Keys not present get Span{-1, -1}.
// On error the contents of dst are unspecified.
func ObjectFieldsInto(dst []Span, b []byte, keys ...string) error {
	if len(dst) != len(keys) {
		panic("wire: ObjectFieldsInto needs one span per key")
	}
	for k := range dst {
		dst[k] = Span{-1, -1}
	}
	missing := len(keys)
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errScan
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		ke, vs, err := scanKey(b, i)
		if err != nil {
			return err
		}
		ve, err := scanValue(b, vs, 1)
		if err != nil {
			return err
		}
		if missing > 0 {
			key := b[i+1 : ke-1]
			if needsDecoding(key) {
				if k, ok := UnquoteString(b[i:ke]); ok {
					key = []byte(k)
				}
			}
			for k, want := range keys {
				if dst[k].Start < 0 && string(key) == want {
					dst[k] = Span{vs, ve}
					missing--
				}
			}
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return errScan
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errScan
		}
	}
}

// needsDecoding reports whether a raw key may decode to other bytes: it has an escape, or
// non-ASCII bytes (invalid UTF-8 decodes to U+FFFD). Rare, so plain keys stay a byte compare.
func needsDecoding(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// ArrayElements returns the spans of the elements of a JSON array. The error is nil exactly
// when b is valid JSON whose value is an array.
func ArrayElements(b []byte) ([]Span, error) {
	return ArrayElementsInto(nil, b)
}

// ArrayElementsInto is ArrayElements appending to dst, so that a caller can pass a stack
// buffer. On error it returns dst unchanged.
func ArrayElementsInto(dst []Span, b []byte) ([]Span, error) {
	orig := dst
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return orig, errScan
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, trailing(b, i+1)
	}
	for {
		e, err := scanValue(b, i, 1)
		if err != nil {
			return orig, err
		}
		dst = append(dst, Span{i, e})
		i = skipWS(b, e)
		if i >= len(b) {
			return orig, errScan
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			if err := trailing(b, i+1); err != nil {
				return orig, err
			}
			return dst, nil
		default:
			return orig, errScan
		}
	}
}

// Valid reports whether b is one JSON value, with the same answer as json.Valid.
func Valid(b []byte) bool {
	i := skipWS(b, 0)
	e, err := scanValue(b, i, 0)
	return err == nil && trailing(b, e) == nil
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

// scanKey reads an object member's key starting at b[i] and the colon after it. keyEnd is
// just past the key's closing quote; next is where the value should start.
func scanKey(b []byte, i int) (keyEnd, next int, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, errScan
	}
	keyEnd, err = scanString(b, i)
	if err != nil {
		return 0, 0, err
	}
	j := skipWS(b, keyEnd)
	if j >= len(b) || b[j] != ':' {
		return 0, 0, errScan
	}
	return keyEnd, skipWS(b, j+1), nil
}

// scanValue returns the index just past the value starting at b[i]; depth is how many
// containers already enclose it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i < len(b) && (b[i] == '{' || b[i] == '[') {
		return scanContainer(b, i, depth)
	}
	return scanPrimitive(b, i)
}

// scanContainer returns the index just past the object or array starting at b[i]. It walks
// nested containers in a loop rather than by recursion, so hostile nesting cannot grow the
// goroutine stack; the kind of each open container is kept as one bit, so the usual shallow
// document needs no memory beyond a register.
func scanContainer(b []byte, i, depth int) (int, error) {
	var (
		open     uint64 // bit 0 is the innermost open container: 1 for an object, 0 for an array
		n        int    // containers open in this call
		spillBuf [4]uint64
		spill    = spillBuf[:0] // words of open pushed out past 64 levels; past 320 it allocates
		err      error
	)
	for {
		if i >= len(b) {
			return 0, errScan
		}
		if c := b[i]; c == '{' || c == '[' {
			if depth+n >= maxDepth {
				return 0, errScan
			}
			j := skipWS(b, i+1)
			if j >= len(b) {
				return 0, errScan
			}
			if b[j] == c+2 { // '}' and ']' are two past their openers in ASCII
				i = j + 1
			} else {
				if n > 0 && n%64 == 0 {
					spill = append(spill, open)
					open = 0
				}
				open <<= 1
				if c == '{' {
					open |= 1
					if _, j, err = scanKey(b, j); err != nil {
						return 0, err
					}
				}
				n++
				i = j
				continue
			}
		} else if i, err = scanPrimitive(b, i); err != nil {
			return 0, err
		}
		// A value has ended: close every container that ends with it, then move to the next
		// member or element.
		for {
			if n == 0 {
				return i, nil
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, errScan
			}
			obj := open&1 != 0
			c := b[i]
			if c == ',' {
				i = skipWS(b, i+1)
				if obj {
					if _, i, err = scanKey(b, i); err != nil {
						return 0, err
					}
				}
				break
			}
			if obj && c != '}' || !obj && c != ']' {
				return 0, errScan
			}
			i++
			open >>= 1
			n--
			if n > 0 && n%64 == 0 {
				open = spill[len(spill)-1]
				spill = spill[:len(spill)-1]
			}
		}
	}
}

// scanPrimitive returns the index just past the string, number or literal starting at b[i].
func scanPrimitive(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return scanString(b, i)
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	return scanNumber(b, i)
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errScan
	}
	return i + len(lit), nil
}

// strPlain marks the bytes a string may hold unescaped: anything but controls, '"' and '\'.
// Bytes >= 0x80 are plain whatever their UTF-8 validity, because json.Valid does not check it.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

var isHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// specialBytes has the high bit set in each byte of x that is '"', '\' or a control byte, and
// possibly in bytes above such a byte (a borrow can carry upwards), so only its lowest set
// bit is exact. That is enough to skip eight plain bytes at a time.
func specialBytes(x uint64) uint64 {
	q := x ^ (swarOnes * '"')
	s := x ^ (swarOnes * '\\')
	return ((q-swarOnes)&^q | (s-swarOnes)&^s | (x-swarOnes*0x20)&^x) & swarHigh
}

// scanString returns the index just past the string whose opening quote is at b[i].
func scanString(b []byte, i int) (int, error) {
	i++
	for {
		if len(b)-i >= 8 {
			m := specialBytes(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && strPlain[b[i]] {
				i++
			}
			if i >= len(b) {
				return 0, errScan
			}
		}
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(b) {
				return 0, errScan
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex[b[i+2]] || !isHex[b[i+3]] || !isHex[b[i+4]] || !isHex[b[i+5]] {
					return 0, errScan
				}
				i += 6
			default:
				return 0, errScan
			}
		default: // a raw control byte
			return 0, errScan
		}
	}
}

// scanNumber returns the index just past the number starting at b[i]. What follows is the
// caller's to judge, which is how "01" and "1x" fail.
func scanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, errScan
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i+1)
	default:
		return 0, errScan
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, errScan
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, errScan
		}
		i = j
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
