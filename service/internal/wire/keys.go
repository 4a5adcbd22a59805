package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// KeyError is an object key that would make encoding/json read a document differently from a
// case-sensitive reader that keeps the first occurrence — which is what an upstream may be.
// The gateway validates what encoding/json read and forwards the bytes as sent, so such a key
// could carry past validation a value the gateway never saw.
type KeyError struct {
	Path  string // where the key is, e.g. "messages[0].role"
	Key   string // the key as sent
	Field string // for a case variant: the field it would set
}

func (e *KeyError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s differs from the field %q only by case", e.Path, e.Field)
	}
	return fmt.Sprintf("%s is repeated", e.Path)
}

// CheckKeys reports the first key in the JSON document b, decoded into a value of type t, that
// is repeated within its object (at any depth: the RFC's SHOULD, made a MUST), or that is not a
// field of the struct it decodes into but equals one ignoring case (encoding/json would set
// that field from it). Values read by a custom decoder or kept raw are checked for repeated
// keys only. b must be valid JSON (as json.Valid sees it); otherwise an error is returned.
func CheckKeys(b []byte, t reflect.Type) error {
	var stack [8]pathStep // one allocation: deep enough for every body the gateway reads
	c := keyChecker{b: b, path: stack[:0]}
	end, err := c.value(skipWS(b, 0), t, 0)
	if err != nil {
		return err
	}
	return trailing(b, end)
}

// keyChecker walks one document; path is the way to the value being walked, written out only
// for an error, so the walk allocates nothing for it.
type keyChecker struct {
	b    []byte
	path []pathStep
}

// pathStep is a key, or an index in an array (key nil).
type pathStep struct {
	key   []byte
	index int
}

func (c *keyChecker) where() string {
	var sb strings.Builder
	for i, st := range c.path {
		switch {
		case st.key == nil:
			sb.WriteString("[" + strconv.Itoa(st.index) + "]")
		case i > 0:
			sb.WriteString("." + string(st.key))
		default:
			sb.Write(st.key)
		}
	}
	return sb.String()
}

var (
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	shaper      = reflect.TypeFor[keyShaper]()
)

// keyShaper is a type with its own decoder that reads some of a value by field name: it names
// the type whose fields that is, so that CheckKeys checks those keys too.
type keyShaper interface{ keyShape() reflect.Type }

// plain is t without pointers, or nil when the value is not decoded by field name.
func plain(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil:
		return nil
	case t.Implements(shaper):
		return reflect.Zero(t).Interface().(keyShaper).keyShape()
	case reflect.PointerTo(t).Implements(unmarshaler):
		return nil
	}
	return t
}

func (c *keyChecker) value(i int, t reflect.Type, depth int) (int, error) {
	if depth >= maxDepth || i >= len(c.b) {
		return 0, errScan
	}
	t = plain(t)
	switch c.b[i] {
	case '{':
		return c.object(i, t, depth)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		i = skipWS(c.b, i+1)
		if i < len(c.b) && c.b[i] == ']' {
			return i + 1, nil
		}
		for n := 0; ; n++ {
			c.path = append(c.path, pathStep{index: n})
			end, err := c.value(i, elem, depth+1)
			if err != nil {
				return 0, err
			}
			var done bool
			if i, done, err = c.after(end, ']'); err != nil || done {
				return i, err
			}
		}
	}
	return scanPrimitive(c.b, i)
}

// manyKeys is where the keys met in one object go from a short list (objects have few keys)
// to a map, so that a hostile object of many keys is still checked in linear time.
const manyKeys = 16

// addKey records key among those met (list, then set) and reports whether it was there already.
func addKey(list [][]byte, set map[string]struct{}, key []byte) ([][]byte, map[string]struct{}, bool) {
	if set == nil {
		for _, k := range list {
			if bytes.Equal(k, key) {
				return list, set, true
			}
		}
		if len(list) < manyKeys {
			return append(list, key), set, false
		}
		set = make(map[string]struct{}, 2*manyKeys)
		for _, k := range list {
			set[string(k)] = struct{}{}
		}
	} else if _, dup := set[string(key)]; dup {
		return list, set, true
	}
	set[string(key)] = struct{}{}
	return list, set, false
}

func (c *keyChecker) object(i int, t reflect.Type, depth int) (int, error) {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	i = skipWS(c.b, i+1)
	if i < len(c.b) && c.b[i] == '}' {
		return i + 1, nil
	}
	var buf [manyKeys][]byte
	seen, seenSet := buf[:0], map[string]struct{}(nil)
	for {
		ke, vs, err := scanKey(c.b, i)
		if err != nil {
			return 0, err
		}
		key := c.b[i+1 : ke-1]
		if needsDecoding(key) {
			k, ok := UnquoteString(c.b[i:ke])
			if !ok {
				return 0, errScan
			}
			key = []byte(k)
		}
		c.path = append(c.path, pathStep{key: key})
		var dup bool
		if seen, seenSet, dup = addKey(seen, seenSet, key); dup {
			return 0, &KeyError{Path: c.where(), Key: string(key)}
		}
		child := elem
		if fields != nil {
			ft, known := fields[string(key)]
			if !known {
				for name := range fields {
					if strings.EqualFold(name, string(key)) {
						return 0, &KeyError{Path: c.where(), Key: string(key), Field: name}
					}
				}
			}
			child = ft
		}
		ve, err := c.value(vs, child, depth+1)
		if err != nil {
			return 0, err
		}
		var done bool
		if i, done, err = c.after(ve, '}'); err != nil || done {
			return i, err
		}
	}
}

// after reads what follows a member or an element: its path step is done, then a comma (more
// to come, i is past it) or the closing bracket (done, i is past it).
func (c *keyChecker) after(end int, closing byte) (i int, done bool, err error) {
	c.path = c.path[:len(c.path)-1]
	i = skipWS(c.b, end)
	switch {
	case i >= len(c.b):
		return 0, false, errScan
	case c.b[i] == ',':
		return skipWS(c.b, i+1), false, nil
	case c.b[i] == closing:
		return i + 1, true, nil
	}
	return 0, false, errScan
}

// fieldCache holds the JSON field names of each struct type (reflection once per type).
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps the JSON names of a struct's fields (as encoding/json names them) to their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
