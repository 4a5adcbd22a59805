package wire

import (
	"bytes"
	"slices"
)

// Edit replaces b[At:End] with With; At == End inserts.
type Edit struct {
	At, End int
	With    []byte
}

// Apply returns b with the edits applied. Edits must not overlap; they may come in any order.
// Without edits it returns b itself, so an answer that needs no change is not copied.
func Apply(b []byte, edits ...Edit) []byte {
	if len(edits) == 0 {
		return b
	}
	slices.SortFunc(edits, func(x, y Edit) int { return x.At - y.At })
	n := len(b)
	for _, e := range edits {
		n += len(e.With) - (e.End - e.At)
	}
	out := make([]byte, 0, n)
	last := 0
	for _, e := range edits {
		out = append(out, b[last:e.At]...)
		out = append(out, e.With...)
		last = e.End
	}
	return append(out, b[last:]...)
}

// Field is a top-level member of a JSON object: a key and its raw JSON value.
type Field struct {
	Key   string
	Value []byte
}

// SetFields returns the JSON object b with the given members set: replaced where present
// (the first occurrence), added at the end otherwise; everything else is kept byte for byte.
// That is how the gateway changes a client's request (the model, stream options) and still
// forwards fields it does not know. Keys must not need escaping.
func SetFields(b []byte, fields ...Field) ([]byte, error) {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	spans, err := ObjectFields(b, keys...)
	if err != nil {
		return nil, err
	}
	var edits []Edit
	var added []byte
	for i, f := range fields {
		s := spans[i]
		switch {
		case !s.Found():
			added = append(added, ',', '"')
			added = append(added, f.Key...)
			added = append(added, '"', ':')
			added = append(added, f.Value...)
		case !bytes.Equal(b[s.Start:s.End], f.Value):
			edits = append(edits, Edit{s.Start, s.End, f.Value})
		}
	}
	if added != nil {
		end := bytes.LastIndexByte(b, '}') // b is one object: its last '}' closes it
		if len(bytes.TrimSpace(b[bytes.IndexByte(b, '{')+1:end])) == 0 {
			added = added[1:] // an empty object: no comma before the first member
		}
		edits = append(edits, Edit{end, end, added})
	}
	return Apply(b, edits...), nil
}
