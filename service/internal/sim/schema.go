package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrUnsatisfiable is wrapped by every Instance error: the schema asks for something the
// simulator cannot produce (or nothing can), so the request is the client's to fix.
var ErrUnsatisfiable = errors.New("schema cannot be satisfied")

// Instance generates a JSON value that validates against a JSON Schema (the subset structured
// outputs and tool parameters use: type, properties, required, additionalProperties, items,
// prefixItems, enum, const, anyOf/oneOf/allOf, local $ref into $defs/definitions, numeric
// ranges and multipleOf, string lengths, patterns and formats). It is deterministic: the same
// schema and prompt give the same bytes, and strings are made of the prompt's words, so an
// answer reads as if it were about the request. Object keys follow the schema's order.
func Instance(schema []byte, prompt string) ([]byte, error) {
	root, err := decodeOrdered(schema)
	if err != nil {
		return nil, fmt.Errorf("%w: the schema is not valid JSON: %v", ErrUnsatisfiable, err)
	}
	h := fnv.New64a()
	h.Write(schema)
	h.Write([]byte(prompt))
	g := &generator{root: root, rng: rand.New(rand.NewPCG(h.Sum64(), 0x5eed)), words: promptWords(prompt)}
	v, err := g.value(root, "#", 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeJSONValue(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Schemas nest and refer to themselves: past softDepth only what is required is produced, and
// past hardDepth the schema is taken to have no finite instance.
const (
	softDepth = 6
	hardDepth = 24
)

// maxSize bounds what one instance may cost (values plus string runes / 16): a schema's
// minimums could otherwise ask the simulator for gigabytes.
const maxSize = 1 << 16

type generator struct {
	size  int
	root  any
	rng   *rand.Rand
	words []string
	word  int
}

func unsatisfiable(path, format string, args ...any) error {
	return fmt.Errorf("%w at %s: %s", ErrUnsatisfiable, path, fmt.Sprintf(format, args...))
}

func (g *generator) value(s any, path string, depth int) (any, error) {
	if depth > hardDepth {
		return nil, unsatisfiable(path, "it nests deeper than %d levels (a recursion with no way out)", hardDepth)
	}
	if g.size++; g.size > maxSize {
		return nil, unsatisfiable(path, "its smallest instance is larger than the simulator makes (%d values)", maxSize)
	}
	switch s := s.(type) {
	case bool:
		if !s {
			return nil, unsatisfiable(path, "the schema false admits no value")
		}
		return g.text(1, 24), nil
	case *omap:
		return g.object(s, path, depth)
	}
	return nil, unsatisfiable(path, "a schema must be an object or a boolean")
}

func (g *generator) object(s *omap, path string, depth int) (any, error) {
	if ref, ok := s.str("$ref"); ok {
		target, err := g.resolve(ref)
		if err != nil {
			return nil, unsatisfiable(path, "%v", err)
		}
		return g.value(target, ref, depth+1)
	}
	if c, ok := s.get("const"); ok {
		return c, nil
	}
	if e, ok := s.get("enum"); ok {
		list, _ := e.([]any)
		if len(list) == 0 {
			return nil, unsatisfiable(path, "enum is empty")
		}
		return list[g.rng.IntN(len(list))], nil
	}
	if all, ok := s.get("allOf"); ok {
		merged, err := g.mergeAll(s, all, path)
		if err != nil {
			return nil, err
		}
		return g.object(merged, path, depth)
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		if alts, ok := s.get(kw); ok {
			return g.alternative(s, kw, alts, path, depth)
		}
	}
	switch t := g.typeOf(s); t {
	case "object":
		return g.props(s, path, depth)
	case "array":
		return g.array(s, path, depth)
	case "string":
		return g.str(s, path)
	case "integer", "number":
		return g.number(s, t == "integer", path)
	case "boolean":
		return g.rng.IntN(2) == 1, nil
	case "null":
		return nil, nil
	default:
		return nil, unsatisfiable(path, "unknown type %q", t)
	}
}

// typeOf picks the schema's type: the first non-null one of a list (nullable fields get a
// value), or the one its keywords imply.
func (g *generator) typeOf(s *omap) string {
	switch t := s.m["type"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if name, _ := e.(string); name != "null" && name != "" {
				return name
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case s.has("properties"), s.has("required"), s.has("additionalProperties"):
		return "object"
	case s.has("items"), s.has("prefixItems"):
		return "array"
	case s.has("minimum"), s.has("maximum"), s.has("multipleOf"), s.has("exclusiveMinimum"), s.has("exclusiveMaximum"):
		return "number"
	}
	return "string"
}

func (g *generator) alternative(s *omap, kw string, alts any, path string, depth int) (any, error) {
	list, _ := alts.([]any)
	if len(list) == 0 {
		return nil, unsatisfiable(path, "%s is empty", kw)
	}
	start := g.rng.IntN(len(list))
	var first error
	for i := range list {
		k := (start + i) % len(list)
		branch := list[k]
		if bo, ok := branch.(*omap); ok {
			branch = s.without(kw).merge(bo) // sibling keywords apply to every branch
		}
		v, err := g.value(branch, fmt.Sprintf("%s/%s/%d", path, kw, k), depth+1)
		if err == nil {
			return v, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (g *generator) mergeAll(s *omap, all any, path string) (*omap, error) {
	list, _ := all.([]any)
	out := s.without("allOf")
	for i, e := range list {
		part, ok := e.(*omap)
		if !ok {
			if b, isBool := e.(bool); isBool && b {
				continue
			}
			return nil, unsatisfiable(fmt.Sprintf("%s/allOf/%d", path, i), "the schema false admits no value")
		}
		if ref, ok := part.str("$ref"); ok {
			target, err := g.resolve(ref)
			if err != nil {
				return nil, unsatisfiable(path, "%v", err)
			}
			if part, ok = target.(*omap); !ok {
				continue
			}
		}
		out = out.merge(part)
	}
	return out, nil
}

func (g *generator) props(s *omap, path string, depth int) (any, error) {
	out := &omap{m: map[string]any{}}
	props, _ := s.m["properties"].(*omap)
	var requiredList []string
	required := map[string]bool{}
	if req, ok := s.m["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok && !required[name] {
				required[name] = true
				requiredList = append(requiredList, name)
			}
		}
	}
	maxProps := math.MaxInt
	if n, ok := s.num("maxProperties"); ok {
		maxProps = int(min(n, 1e4))
	}
	if props != nil {
		for _, k := range props.keys {
			if !required[k] && (depth >= softDepth || out.len() >= maxProps) {
				continue
			}
			v, err := g.value(props.m[k], path+"/properties/"+k, depth+1)
			if err != nil {
				if required[k] {
					return nil, err
				}
				continue // an optional property that cannot be made is left out
			}
			out.set(k, v)
		}
	}
	for _, k := range requiredList {
		if out.has(k) {
			continue
		}
		v, err := g.additional(s, path+"/required/"+k, depth)
		if err != nil {
			return nil, unsatisfiable(path, "required property %q is not allowed by additionalProperties", k)
		}
		out.set(k, v)
	}
	if out.len() > maxProps {
		return nil, unsatisfiable(path, "%d required properties exceed maxProperties %d", out.len(), maxProps)
	}
	minProps, _ := s.num("minProperties")
	for i := 1; out.len() < int(min(minProps, 1e4)); i++ {
		v, err := g.additional(s, path+"/additionalProperties", depth)
		if err != nil {
			return nil, unsatisfiable(path, "minProperties %v needs properties that additionalProperties forbids", minProps)
		}
		out.set("extra_"+strconv.Itoa(i), v)
	}
	return out, nil
}

func (g *generator) additional(s *omap, path string, depth int) (any, error) {
	ap, ok := s.m["additionalProperties"]
	if !ok {
		return g.text(1, 24), nil
	}
	return g.value(ap, path, depth+1)
}

func (g *generator) array(s *omap, path string, depth int) (any, error) {
	minF, _ := s.num("minItems")
	maxF, hasMax := s.num("maxItems")
	minItems, maxItems := int(min(minF, 1e4)), math.MaxInt32
	if hasMax {
		maxItems = int(min(maxF, 1e4))
	}
	if minItems > maxItems {
		return nil, unsatisfiable(path, "minItems %d > maxItems %d", minItems, maxItems)
	}
	var prefix []any
	if p, ok := s.m["prefixItems"].([]any); ok {
		prefix = p
	}
	n := minItems
	if depth < softDepth {
		n = min(max(n, len(prefix), 1+g.rng.IntN(3)), maxItems)
	}
	items, hasItems := s.m["items"]
	if b, ok := items.(bool); ok && !b && n > len(prefix) {
		n = len(prefix)
		if n < minItems {
			return nil, unsatisfiable(path, "minItems %d but items is false after %d prefix items", minItems, len(prefix))
		}
	}
	unique := s.m["uniqueItems"] == true
	out := make([]any, 0, n)
	seen := map[string]bool{}
	for i := 0; len(out) < n; i++ {
		if i > n+16 {
			return nil, unsatisfiable(path, "cannot make %d distinct items", n)
		}
		var schema any = true
		switch {
		case len(out) < len(prefix):
			schema = prefix[len(out)]
		case hasItems:
			schema = items
		}
		v, err := g.value(schema, fmt.Sprintf("%s/items/%d", path, len(out)), depth+1)
		if err != nil {
			return nil, err
		}
		if unique {
			var key bytes.Buffer
			_ = writeJSONValue(&key, v)
			if seen[key.String()] {
				continue
			}
			seen[key.String()] = true
		}
		out = append(out, v)
	}
	return out, nil
}

func (g *generator) str(s *omap, path string) (any, error) {
	minLen, _ := s.num("minLength")
	maxLen, hasMax := s.num("maxLength")
	if !hasMax {
		maxLen = math.Inf(1)
	}
	if minLen > maxLen {
		return nil, unsatisfiable(path, "minLength %v > maxLength %v", minLen, maxLen)
	}
	if g.size += int(min(minLen, maxSize*16)) / 16; g.size > maxSize {
		return nil, unsatisfiable(path, "minLength %v is longer than the simulator writes", minLen)
	}
	var v string
	if p, ok := s.str("pattern"); ok {
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, unsatisfiable(path, "pattern %q does not compile: %v", p, err)
		}
		v = fromRegexp(re.Simplify(), g)
	} else if f, ok := s.str("format"); ok {
		v = g.format(f)
	} else {
		return g.text(int(minLen), int(min(maxLen, float64(max(int(minLen), 48))))), nil
	}
	if n := utf8.RuneCountInString(v); float64(n) < minLen || float64(n) > maxLen {
		return nil, unsatisfiable(path, "a value of the pattern or format has %d characters, outside %v…%v", n, minLen, maxLen)
	}
	return v, nil
}

func (g *generator) format(f string) string {
	day := 1 + g.rng.IntN(28)
	switch f {
	case "date-time":
		return fmt.Sprintf("2026-03-%02dT%02d:%02d:00Z", day, g.rng.IntN(24), g.rng.IntN(60))
	case "date":
		return fmt.Sprintf("2026-03-%02d", day)
	case "time":
		return fmt.Sprintf("%02d:%02d:00Z", g.rng.IntN(24), g.rng.IntN(60))
	case "duration":
		return fmt.Sprintf("PT%dM", 1+g.rng.IntN(90))
	case "email":
		return g.slug() + "@example.com"
	case "hostname":
		return g.slug() + ".example.com"
	case "uri", "url", "iri":
		return "https://example.com/" + g.slug()
	case "uuid":
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Uint64()&(1<<48-1))
	case "ipv4":
		return fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254))
	case "ipv6":
		return fmt.Sprintf("2001:db8::%x", 1+g.rng.IntN(0xfffe))
	}
	return g.text(1, 24)
}

func (g *generator) number(s *omap, integer bool, path string) (any, error) {
	lo, hi := math.Inf(-1), math.Inf(1)
	if v, ok := s.num("minimum"); ok {
		lo = v
	}
	if v, ok := s.num("maximum"); ok {
		hi = v
	}
	step := 0.0
	if integer {
		step = 1
	}
	if v, ok := s.num("exclusiveMinimum"); ok {
		lo = max(lo, nextUp(v, step))
	}
	if v, ok := s.num("exclusiveMaximum"); ok {
		hi = min(hi, nextDown(v, step))
	}
	mult, hasMult := s.num("multipleOf")
	if hasMult && mult <= 0 {
		return nil, unsatisfiable(path, "multipleOf must be positive")
	}
	// Where the schema leaves a side open: small positive numbers, near the closed side.
	switch {
	case math.IsInf(lo, -1) && math.IsInf(hi, 1):
		lo, hi = 0, 100
	case math.IsInf(lo, -1):
		lo = min(0, hi-100)
	case math.IsInf(hi, 1):
		hi = max(lo, 0) + 100
	}
	if integer {
		lo, hi = math.Ceil(lo), math.Floor(hi)
	}
	if lo > hi {
		return nil, unsatisfiable(path, "no number lies between the minimum and the maximum")
	}
	if hasMult || integer {
		unit := 1.0
		if hasMult {
			unit = mult
			if integer && mult != math.Trunc(mult) {
				unit = integerMultiple(mult)
				if unit == 0 {
					return nil, unsatisfiable(path, "no integer is a multiple of %v", mult)
				}
			}
		}
		first, last := math.Ceil(lo/unit), math.Floor(hi/unit)
		if first > last {
			return nil, unsatisfiable(path, "no multiple of %v lies in the range", unit)
		}
		k := first + float64(g.rng.Int64N(int64(min(last-first, 1e9))+1))
		v := k * unit
		if integer {
			return int64(math.Round(v)), nil
		}
		// k·unit in floating point is off by an ulp (0.1·3); written with the unit's decimals it
		// is an exact multiple for a validator that reads the JSON text.
		decimals := len(strconv.FormatFloat(unit, 'f', -1, 64)) - len(strconv.FormatFloat(math.Trunc(unit), 'f', -1, 64)) - 1
		rounded, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', max(decimals, 0), 64), 64)
		return rounded, nil
	}
	v := lo + g.rng.Float64()*(hi-lo)
	if r := math.Round(v*100) / 100; r >= lo && r <= hi {
		v = r
	}
	return v, nil
}

// integerMultiple is the least integer multiple of a fraction (0 when none is small).
func integerMultiple(f float64) float64 {
	for k := 1.0; k <= 1000; k++ {
		if v := k * f; math.Abs(v-math.Round(v)) < 1e-9 {
			return math.Round(v)
		}
	}
	return 0
}

func nextUp(x, step float64) float64 {
	if step > 0 {
		return math.Floor(x) + step
	}
	return math.Nextafter(x, math.Inf(1))
}

func nextDown(x, step float64) float64 {
	if step > 0 {
		return math.Ceil(x) - step
	}
	return math.Nextafter(x, math.Inf(-1))
}

// text is prompt words joined to a length in [minLen, maxLen] runes.
func (g *generator) text(minLen, maxLen int) string {
	maxLen = max(maxLen, minLen)
	target := minLen
	if hi := min(maxLen, minLen+24); hi > minLen {
		target += g.rng.IntN(hi - minLen + 1)
	}
	target = max(target, min(1, maxLen))
	var b []rune
	for len(b) < target {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, []rune(g.nextWord())...)
	}
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	out := strings.TrimRight(string(b), " ")
	for n := utf8.RuneCountInString(out); n < minLen; n++ {
		out += "x"
	}
	return out
}

func (g *generator) nextWord() string {
	w := g.words[g.word%len(g.words)]
	g.word++
	return w
}

func (g *generator) slug() string {
	var b strings.Builder
	for _, r := range strings.ToLower(g.nextWord()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "sim"
	}
	return b.String()
}

func promptWords(prompt string) []string {
	var out []string
	for _, w := range strings.Fields(prompt) {
		w = strings.Trim(w, `.,;:!?"'()[]{}`)
		if w != "" && utf8.ValidString(w) {
			out = append(out, w)
		}
		if len(out) == 64 {
			break
		}
	}
	if len(out) == 0 {
		out = []string{"simulated", "value"}
	}
	return out
}

// fromRegexp writes the shortest string the (simplified) expression matches, choosing among
// alternatives and classes with the generator's randomness.
func fromRegexp(re *syntax.Regexp, g *generator) string {
	var b strings.Builder
	var walk func(*syntax.Regexp)
	walk = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpLiteral:
			b.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			b.WriteRune(classRune(re.Rune, g))
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			b.WriteByte('a')
		case syntax.OpCapture:
			walk(re.Sub[0])
		case syntax.OpConcat:
			for _, s := range re.Sub {
				walk(s)
			}
		case syntax.OpAlternate:
			walk(re.Sub[g.rng.IntN(len(re.Sub))])
		case syntax.OpPlus:
			walk(re.Sub[0])
		case syntax.OpRepeat:
			for range re.Min {
				walk(re.Sub[0])
			}
		}
		// OpStar, OpQuest, anchors and empty matches add nothing.
	}
	walk(re)
	return b.String()
}

// classRune picks a character of a class, printable ASCII where the class has any (negated
// classes are ranges of the complement and start at NUL).
func classRune(ranges []rune, g *generator) rune {
	var printable [][2]rune
	for i := 0; i+1 < len(ranges); i += 2 {
		if lo, hi := max(ranges[i], '!'), min(ranges[i+1], '~'); lo <= hi {
			printable = append(printable, [2]rune{lo, hi})
		}
	}
	if len(printable) == 0 {
		if len(ranges) == 0 {
			return 'a'
		}
		return ranges[0]
	}
	r := printable[g.rng.IntN(len(printable))]
	return r[0] + rune(g.rng.IntN(int(min(r[1]-r[0], 25))+1))
}

func (g *generator) resolve(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("only local references (#/…) are supported, not %q", ref)
	}
	cur := g.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case *omap:
			next, ok := c.m[part]
			if !ok {
				return nil, fmt.Errorf("reference %q does not resolve", ref)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("reference %q does not resolve", ref)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
	}
	return cur, nil
}

// omap is a JSON object that keeps its keys in order: generated objects follow the schema's
// property order, as a model answering with structured outputs does.
type omap struct {
	keys []string
	m    map[string]any
}

func (o *omap) get(k string) (any, bool) { v, ok := o.m[k]; return v, ok }
func (o *omap) has(k string) bool        { _, ok := o.m[k]; return ok }
func (o *omap) len() int                 { return len(o.keys) }

func (o *omap) str(k string) (string, bool) {
	s, ok := o.m[k].(string)
	return s, ok
}

func (o *omap) num(k string) (float64, bool) {
	n, ok := o.m[k].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func (o *omap) set(k string, v any) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

func (o *omap) without(k string) *omap {
	out := &omap{m: map[string]any{}}
	for _, key := range o.keys {
		if key != k {
			out.set(key, o.m[key])
		}
	}
	return out
}

// merge is o with p's keywords on top; properties are merged and required lists joined, so
// that allOf parts and anyOf branches combine as a validator reads them.
func (o *omap) merge(p *omap) *omap {
	out := o.without("")
	for _, k := range p.keys {
		v := p.m[k]
		switch k {
		case "properties":
			if a, ok := out.m[k].(*omap); ok {
				if b, ok := v.(*omap); ok {
					v = a.merge(b)
				}
			}
		case "required":
			if a, ok := out.m[k].([]any); ok {
				if b, ok := v.([]any); ok {
					v = append(append([]any{}, a...), b...)
				}
			}
		}
		out.set(k, v)
	}
	return out
}

func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the schema")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := &omap{m: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			o.set(k, v)
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return t, nil
}

func writeJSONValue(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case *omap:
		buf.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSONValue(buf, v.m[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONValue(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}
