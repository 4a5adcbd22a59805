package wire

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// grammar lists single JSON values, each valid or not, one rule of the grammar at a time.
// TestGrammar puts each of them in every position the scanner handles differently.
var grammar = []struct {
	v     string
	valid bool
}{
	// literals
	{`true`, true}, {`false`, true}, {`null`, true},
	{`tru`, false}, {`True`, false}, {`nul`, false}, {`nulll`, false}, {`falsey`, false},
	{`truefalse`, false}, {`t`, false}, {`NaN`, false}, {`Infinity`, false}, {`undefined`, false},

	// numbers
	{`0`, true}, {`-0`, true}, {`7`, true}, {`-12`, true}, {`1234567890`, true}, {`0.5`, true},
	{`-0.0`, true}, {`1e5`, true}, {`1E5`, true}, {`1e+5`, true}, {`1e-05`, true}, {`0e0`, true},
	{`-1.25E-3`, true}, {`123.456e789`, true}, {`100000000000000000000000000000`, true},
	{`01`, false}, {`-01`, false}, {`00`, false}, {`-`, false}, {`+1`, false}, {`--1`, false},
	{`1.`, false}, {`.5`, false}, {`-.5`, false}, {`1.e5`, false}, {`1e`, false}, {`1e+`, false},
	{`1E-`, false}, {`1e5.0`, false}, {`1.2.3`, false}, {`0x10`, false}, {`1_000`, false},
	{`1-2`, false}, {`2e3e4`, false}, {`- 1`, false}, {`1 2`, false},

	// strings
	{`""`, true}, {`"abc"`, true}, {"\"a\tb\"", false}, {`"\"\\\/\b\f\n\r\t"`, true},
	{`"\u00e9\uABCD\uabcd\u0000"`, true}, {`"\ud800"`, true}, {`"日本語"`, true},
	{"\"\xff\xfe invalid UTF-8 is accepted\"", true}, {"\"\xed\xa0\x80\"", true},
	{"\"\x7f\"", true}, {"\"a\x00b\"", false}, {"\"\x01\"", false}, {"\"\x1f\"", false},
	{"\"\n\"", false}, {"\"\r\"", false},
	{`"\a"`, false}, {`"\x41"`, false}, {`"\'"`, false}, {`"\U00e9"`, false}, {`"\u12"`, false},
	{`"\u12g4"`, false}, {`"\u"`, false}, {`"\"`, false}, {`"\\\"`, false}, {`"abc`, false},
	{`"`, false}, {`'a'`, false}, {`"a"b"`, false}, {`"a""b"`, false},
	// long enough for the eight-bytes-at-a-time path, with the interesting byte in every lane
	{`"0123456789abcdef0123456789abcdef"`, true}, {`"0123456\"89abcdef\\0123456789\/bcde"`, true},
	{"\"01234567\x0189abcdef\"", false}, {"\"0123456789abcde\x1f\"", false},
	{"\"0123456789abcdef\\q\"", false}, {`"0123456789abcdef0123456789abcdef`, false},
	{"\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\x80\x80\x80\x80\"", true},

	// arrays
	{`[]`, true}, {`[ ]`, true}, {`[1]`, true}, {`[1,2,3]`, true}, {" [ 1 , \"a\" ,\tnull\n,\r{} ] ", true},
	{`[[],[[]],{}]`, true}, {`[`, false}, {`]`, false}, {`[1`, false}, {`[1,]`, false},
	{`[,1]`, false}, {`[,]`, false}, {`[1 2]`, false}, {`[1,,2]`, false}, {`[1]]`, false},
	{`[[1]`, false}, {`[1}`, false}, {`[{]}`, false}, {`[}`, false},

	// objects
	{`{}`, true}, {`{ }`, true}, {`{"a":1}`, true}, {`{"a":1,"b":[true,{"c":null}]}`, true},
	{"\t{\n\"a\"\r:\t1 ,\n \"b\" : {}\n}\r", true}, {`{"a":1,"a":2}`, true},
	{`{"a"}`, false}, {`{"a":}`, false}, {`{"a" 1}`, false}, {`{"a"::1}`, false}, {`{,}`, false},
	{`{"a":1,}`, false}, {`{,"a":1}`, false}, {`{"a":1 "b":2}`, false}, {`{"a":1,,"b":2}`, false},
	{`{1:2}`, false}, {`{a:1}`, false}, {`{'a':1}`, false}, {`{null:1}`, false}, {`{"a":1}}`, false},
	{`{"a":1`, false}, {`{"a"`, false}, {`{`, false}, {`}`, false}, {`{]`, false},
	{`{"a":[}]}`, false}, {`{"a":{]}`, false}, {`{"a":[1}`, false}, {`{"a":{"b":1]}`, false},
	{`{"a":1;"b":2}`, false}, {`{"a"=1}`, false}, {`{"\q":1}`, false}, {"{\"\x01\":1}", false},

	// whitespace is only space, tab, newline and carriage return
	{" \t\n\r1 \t\n\r", true}, {"\v1", false}, {"1\f", false}, {"[1,\v2]", false},
	{"{\"a\":\u00a01}", false}, {"\x001", false}, {"1\x00", false},

	// nothing, or more than one value
	{``, false}, {` `, false}, {`1 1`, false}, {`{}{}`, false}, {`{} {}`, false}, {`[][]`, false},
	{`"a""b"`, false}, {`{} x`, false}, {`nullnull`, false}, {`1,`, false},
}

func trimWS(s string) string { return strings.Trim(s, " \t\n\r") }

func TestGrammar(t *testing.T) {
	for _, tc := range grammar {
		if json.Valid([]byte(tc.v)) != tc.valid {
			t.Fatalf("table is wrong about %q: json.Valid says %v", tc.v, !tc.valid)
		}
		if got := Valid([]byte(tc.v)); got != tc.valid {
			t.Errorf("Valid(%q) = %v", tc.v, got)
		}
		v := tc.v
		if trimWS(v) == "" {
			continue // "[" + v + "]" would be an empty array
		}
		for _, doc := range []struct {
			prefix, suffix string
		}{
			{`{"k":`, `}`},
			{` { "x" : 0 , "k" : `, ` , "y" : 1 } `},
			{`{"k":`, `,"k":"second"}`},
		} {
			b := []byte(doc.prefix + v + doc.suffix)
			f, err := ObjectFields(b, "k")
			if (err == nil) != tc.valid || json.Valid(b) != tc.valid {
				t.Errorf("ObjectFields(%q): err = %v, json.Valid = %v", b, err, json.Valid(b))
				continue
			}
			if err == nil && string(b[f[0].Start:f[0].End]) != trimWS(v) {
				t.Errorf("ObjectFields(%q) = %q, want %q", b, b[f[0].Start:f[0].End], trimWS(v))
			}
		}
		for _, doc := range []struct {
			prefix, suffix string
			elem           int
		}{
			{`[`, `]`, 0},
			{`[ 0 , `, ` , 1 ]`, 1},
			{`[{"deeper":[`, `]}]`, -1},
			{`{"k":[[{"a":`, `}],[]]}`, -1},
		} {
			b := []byte(doc.prefix + v + doc.suffix)
			var err error
			if doc.prefix[0] == '[' {
				var e []Span
				e, err = ArrayElements(b)
				if err == nil && doc.elem >= 0 && string(b[e[doc.elem].Start:e[doc.elem].End]) != trimWS(v) {
					t.Errorf("ArrayElements(%q)[%d] = %q, want %q", b, doc.elem, b[e[doc.elem].Start:e[doc.elem].End], trimWS(v))
				}
			} else {
				_, err = ObjectFields(b, "k")
			}
			if (err == nil) != tc.valid || Valid(b) != tc.valid {
				t.Errorf("%q: err = %v, Valid = %v", b, err, Valid(b))
			}
		}
		// Strings are also keys.
		if strings.HasPrefix(trimWS(v), `"`) {
			b := []byte(`{` + v + `:1,"k":2}`)
			if _, err := ObjectFields(b, "k"); (err == nil) != tc.valid {
				t.Errorf("ObjectFields(%q): err = %v", b, err)
			}
		}
	}
}

func TestObjectFields(t *testing.T) {
	const absent = "<absent>"
	for _, tc := range []struct {
		name string
		doc  string
		keys []string
		want []string // the raw values, or absent
	}{
		{"top level only", `{"a":{"b":1,"c":2},"c":[{"b":3}]}`, []string{"b", "c", "a"}, []string{absent, `[{"b":3}]`, `{"b":1,"c":2}`}},
		{"first duplicate wins", `{"a":1,"b":2,"a":3,"b":{"x":4}}`, []string{"a", "b"}, []string{"1", "2"}},
		{"a key asked twice", `{"a":1}`, []string{"a", "a"}, []string{"1", "1"}},
		{"no keys asked", `{"a":1}`, nil, nil},
		{"empty object", ` { } `, []string{"a"}, []string{absent}},
		{"keys are compared decoded", `{"a\u0062":1,"ab":2}`, []string{"ab", `a\u0062`}, []string{"1", absent}},
		{"empty key", `{"":1}`, []string{""}, []string{"1"}},
		{"whitespace everywhere", " \r\n\t{ \"a\" \n:\r\t[ 1 ,\n{ } ] \t, \"b\"\n:\"x\" \r\n} \n", []string{"a", "b"}, []string{"[ 1 ,\n{ } ]", `"x"`}},
		{"every kind of value", `{"s":"x\"}","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"}":"]"},"a":["[",{}]}`,
			[]string{"s", "n", "t", "f", "z", "o", "a"}, []string{`"x\"}"`, `-1.5e3`, `true`, `false`, `null`, `{"}":"]"}`, `["[",{}]`}},
		{"a typical stream chunk", chunk, []string{"id", "created", "model", "choices", "usage"},
			[]string{`"chatcmpl-sim276b42eaef6322e3"`, `1795749726`, `"gpt-4o-mini"`, `[{"index":0,"delta":{"content":"upstream metric response "},"finish_reason":null}]`, absent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.doc)
			f, err := ObjectFields(b, tc.keys...)
			if err != nil {
				t.Fatal(err)
			}
			if len(f) != len(tc.keys) {
				t.Fatalf("%d spans for %d keys", len(f), len(tc.keys))
			}
			for i, s := range f {
				got := absent
				if s.Found() {
					got = string(b[s.Start:s.End])
				} else if s != (Span{-1, -1}) {
					t.Errorf("%q: absent as %v", tc.keys[i], s)
				}
				if got != tc.want[i] {
					t.Errorf("%q = %s, want %s", tc.keys[i], got, tc.want[i])
				}
			}
		})
	}

	t.Run("exact spans", func(t *testing.T) {
		f, err := ObjectFields([]byte(`{"a": 12 ,"b":"x"}`), "b", "a", "c")
		if err != nil {
			t.Fatal(err)
		}
		if want := []Span{{14, 17}, {6, 8}, {-1, -1}}; !equalSpans(f, want) {
			t.Errorf("got %v, want %v", f, want)
		}
	})

	t.Run("not an object", func(t *testing.T) {
		for _, doc := range []string{`[]`, `[{"a":1}]`, `"a"`, `1`, `null`, ``, `{"a":1`, `{"a":1} 2`} {
			if f, err := ObjectFields([]byte(doc), "a"); err == nil || f != nil {
				t.Errorf("ObjectFields(%q) = %v, %v", doc, f, err)
			}
		}
	})
}

func TestArrayElements(t *testing.T) {
	b := []byte(` [ 1 ,"a,]" , {"x":[2,3]},[] , null ] `)
	e, err := ArrayElements(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range e {
		got = append(got, string(b[s.Start:s.End]))
	}
	if want := []string{`1`, `"a,]"`, `{"x":[2,3]}`, `[]`, `null`}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}

	if e, err := ArrayElements([]byte(`[]`)); err != nil || len(e) != 0 {
		t.Errorf("empty array: %v, %v", e, err)
	}
	for _, doc := range []string{`{}`, `1`, ``, `[1,]`, `[1] [2]`, `[1`} {
		if e, err := ArrayElements([]byte(doc)); err == nil || e != nil {
			t.Errorf("ArrayElements(%q) = %v, %v", doc, e, err)
		}
	}

	t.Run("into appends and keeps dst on error", func(t *testing.T) {
		dst := []Span{{7, 7}}
		got, err := ArrayElementsInto(dst, []byte(`[1, 2]`))
		if want := []Span{{7, 7}, {1, 2}, {4, 5}}; err != nil || !equalSpans(got, want) {
			t.Errorf("got %v, %v; want %v", got, err, want)
		}
		got, err = ArrayElementsInto(dst, []byte(`[1, 2, x]`))
		if err == nil || !equalSpans(got, dst) {
			t.Errorf("on error got %v, %v; want %v", got, err, dst)
		}
	})
}

// TestDepth pins the nesting limit to encoding/json's, for arrays and objects, at the top
// level and below an object or array the callers walk themselves.
func TestDepth(t *testing.T) {
	nest := func(n int, obj bool) string {
		if obj {
			return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1)
		}
		return strings.Repeat(`[`, n) + strings.Repeat(`]`, n)
	}
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, obj := range []bool{false, true} {
			v := nest(n, obj)
			want := json.Valid([]byte(v))
			if want != (n <= maxDepth) {
				t.Fatalf("encoding/json's limit is not %d", maxDepth)
			}
			if Valid([]byte(v)) != want {
				t.Errorf("Valid(depth %d, object %v) != %v", n, obj, want)
			}
			inObj := `{"k":` + nest(n-1, obj) + `}`
			if _, err := ObjectFields([]byte(inObj), "k"); (err == nil) != want || json.Valid([]byte(inObj)) != want {
				t.Errorf("ObjectFields(depth %d, object %v): %v", n, obj, err)
			}
			inArr := `[0,` + nest(n-1, obj) + `]`
			if _, err := ArrayElements([]byte(inArr)); (err == nil) != want || json.Valid([]byte(inArr)) != want {
				t.Errorf("ArrayElements(depth %d, object %v): %v", n, obj, err)
			}
		}
	}
}

// TestDeepMixedNesting checks that the kind of each open container is remembered past the
// 64 that fit in one word, where a wrong closer must still be caught.
func TestDeepMixedNesting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{63, 64, 65, 127, 128, 129, 300, 1000} {
		kinds := make([]bool, n)
		var open, close strings.Builder
		for i := range kinds {
			kinds[i] = r.IntN(2) == 0
			if kinds[i] {
				open.WriteString(`{"k": `)
			} else {
				open.WriteString(`[0, `)
			}
		}
		closers := make([]byte, n)
		for i := range kinds {
			closers[n-1-i] = "]}"[b2i(kinds[i])]
		}
		for i := range closers {
			close.WriteString(" ")
			close.WriteByte(closers[i])
		}
		doc := open.String() + `1` + close.String()
		if !Valid([]byte(doc)) || !json.Valid([]byte(doc)) {
			t.Fatalf("depth %d: valid nesting rejected", n)
		}
		for i := range closers {
			bad := []byte(open.String() + `1` + close.String())
			k := len(open.String()) + 1 + 2*i + 1
			bad[k] = "]}"[b2i(bad[k] == ']')]
			if Valid(bad) || json.Valid(bad) {
				t.Fatalf("depth %d: wrong closer %d accepted", n, i)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestObjectFieldsIntoDoesNotAllocate(t *testing.T) {
	raw := []byte(chunk)
	allocs := testing.AllocsPerRun(100, func() {
		var f [5]Span
		if err := ObjectFieldsInto(f[:], raw, "id", "created", "model", "choices", "usage"); err != nil || !f[3].Found() {
			t.Fatal(err)
		}
		var e [4]Span
		elems, err := ArrayElementsInto(e[:0], raw[f[3].Start:f[3].End])
		if err != nil || len(elems) != 1 {
			t.Fatal(err)
		}
		if !Valid(raw) {
			t.Fatal("invalid")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}

func TestObjectFieldsIntoWantsOneSpanPerKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	_ = ObjectFieldsInto(make([]Span, 1), []byte(`{}`), "a", "b")
}

func equalSpans(a, b []Span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// member is a top-level member of an object as encoding/json reads it.
type member struct {
	rawKey string // the key's bytes between the quotes, escapes and all
	key    string // the decoded key
	value  Span
}

// decodedMembers walks a valid object with encoding/json's decoder, independently of the
// scanner, and returns its members in document order.
func decodedMembers(t *testing.T, b []byte) []member {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var out []member
	for dec.More() {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		after := int(dec.InputOffset())
		rawKey := bytes.TrimLeft(b[before:after], " \t\r\n,")
		out = append(out, member{
			rawKey: string(rawKey[1 : len(rawKey)-1]),
			key:    tok.(string),
			value:  decodedValue(t, dec, b, after, " \t\r\n:"),
		})
	}
	return out
}

// decodedElements is decodedMembers for an array.
func decodedElements(t *testing.T, b []byte) []Span {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var out []Span
	for dec.More() {
		out = append(out, decodedValue(t, dec, b, int(dec.InputOffset()), " \t\r\n,"))
	}
	return out
}

// decodedValue decodes the next value and returns where it is in b: after from, past any
// bytes in skip.
func decodedValue(t *testing.T, dec *json.Decoder, b []byte, from int, skip string) Span {
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	start := len(b) - len(bytes.TrimLeft(b[from:], skip))
	s := Span{start, start + len(v)}
	if !bytes.Equal(b[s.Start:s.End], v) {
		t.Fatalf("oracle lost track: %q at %d, decoder read %q", b[s.Start:min(s.End, len(b))], start, v)
	}
	return s
}

func topLevel(b []byte) byte {
	if i := skipWS(b, 0); i < len(b) {
		return b[i]
	}
	return 0
}

func FuzzObjectFields(f *testing.F) {
	f.Add([]byte(chunk))
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := json.Valid(b)
		if Valid(b) != valid {
			t.Fatalf("Valid = %v, json.Valid = %v", !valid, valid)
		}
		var members []member
		isObject := valid && topLevel(b) == '{'
		if isObject {
			members = decodedMembers(t, b)
		}
		// Ask for every key both raw and decoded (they differ when the key has escapes and
		// only the decoded one may match), plus keys that are likely absent.
		keys := []string{"id", "model"}
		for _, m := range members {
			keys = append(keys, m.rawKey, m.key)
		}
		spans, err := ObjectFields(b, keys...)
		if (err == nil) != isObject {
			t.Fatalf("err = %v; json.Valid = %v, top level %q", err, valid, topLevel(b))
		}
		if err != nil {
			if spans != nil {
				t.Fatalf("spans %v with error", spans)
			}
			return
		}
		for k, key := range keys {
			want := Span{-1, -1}
			for _, m := range members {
				if m.key == key {
					want = m.value
					break
				}
			}
			if spans[k] != want {
				t.Fatalf("key %q: span %v, want %v", key, spans[k], want)
			}
		}
	})
}

func FuzzArrayElements(f *testing.F) {
	f.Add([]byte(`[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := json.Valid(b)
		if Valid(b) != valid {
			t.Fatalf("Valid = %v, json.Valid = %v", !valid, valid)
		}
		isArray := valid && topLevel(b) == '['
		prefix := []Span{{-7, -7}}
		got, err := ArrayElementsInto(prefix[:1:1], b)
		if (err == nil) != isArray {
			t.Fatalf("err = %v; json.Valid = %v, top level %q", err, valid, topLevel(b))
		}
		if err != nil {
			if !equalSpans(got, prefix) {
				t.Fatalf("dst changed on error: %v", got)
			}
			return
		}
		if want := append(prefix, decodedElements(t, b)...); !equalSpans(got, want) {
			t.Fatalf("elements %v, want %v", got, want)
		}
	})
}
