package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"aiservice/service/internal/sim"
)

// validate checks an instance with an independent JSON Schema validator (draft 2020-12).
func validate(t *testing.T, schema, instance []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(instance))
	if err != nil {
		t.Fatalf("instance %s is not JSON: %v", instance, err)
	}
	return sch.Validate(v)
}

func TestInstanceValidates(t *testing.T) {
	cases := []struct{ name, schema string }{
		{"string", `{"type":"string"}`},
		{"string lengths", `{"type":"string","minLength":30,"maxLength":32}`},
		{"short string", `{"type":"string","maxLength":3}`},
		{"integer range", `{"type":"integer","minimum":-7,"maximum":-3}`},
		{"exclusive integer", `{"type":"integer","exclusiveMinimum":10,"exclusiveMaximum":12}`},
		{"only exclusive minimum", `{"type":"number","exclusiveMinimum":1000}`},
		{"number multipleOf", `{"type":"number","minimum":0.2,"maximum":0.95,"multipleOf":0.1}`},
		{"integer multipleOf fraction", `{"type":"integer","multipleOf":0.5,"minimum":3,"maximum":3}`},
		{"boolean and null", `{"type":"array","prefixItems":[{"type":"boolean"},{"type":"null"}],"items":false,"minItems":2}`},
		{"nullable", `{"type":["null","string"],"format":"email"}`},
		{"enum", `{"enum":["red","green",3,null]}`},
		{"const", `{"const":{"a":[1,2]}}`},
		{"formats", `{"type":"object","properties":{
			"when":{"type":"string","format":"date-time"},"day":{"type":"string","format":"date"},
			"at":{"type":"string","format":"time"},"mail":{"type":"string","format":"email"},
			"site":{"type":"string","format":"uri"},"id":{"type":"string","format":"uuid"},
			"v4":{"type":"string","format":"ipv4"},"v6":{"type":"string","format":"ipv6"},
			"host":{"type":"string","format":"hostname"},"wait":{"type":"string","format":"duration"}},
			"required":["when","day","at","mail","site","id","v4","v6","host","wait"],"additionalProperties":false}`},
		{"pattern", `{"type":"string","pattern":"^[A-Z]{3}-\\d{2,4}(x|y)?$"}`},
		{"negated class", `{"type":"string","pattern":"^[^a-z]+$"}`},
		{"strict object", `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":130},
			"tags":{"type":"array","items":{"type":"string"},"minItems":2,"maxItems":4,"uniqueItems":true}},
			"required":["name","age","tags"],"additionalProperties":false}`},
		{"required without properties", `{"type":"object","required":["x"],"additionalProperties":{"type":"integer"}}`},
		{"min properties", `{"type":"object","minProperties":3,"additionalProperties":{"type":"boolean"}}`},
		{"anyOf", `{"anyOf":[{"type":"string","maxLength":2},{"type":"integer","minimum":5,"maximum":5}]}`},
		{"anyOf with an impossible branch", `{"anyOf":[{"type":"integer","minimum":3,"maximum":1},{"type":"string"}]}`},
		{"oneOf objects", `{"oneOf":[{"type":"object","properties":{"kind":{"const":"a"}},"required":["kind"]}]}`},
		{"allOf", `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"integer"}},"required":["b"]}]}`},
		{"defs and ref", `{"$defs":{"step":{"type":"object","properties":{"explanation":{"type":"string"},"output":{"type":"string"}},"required":["explanation","output"],"additionalProperties":false}},
			"type":"object","properties":{"steps":{"type":"array","items":{"$ref":"#/$defs/step"}},"final_answer":{"type":"string"}},
			"required":["steps","final_answer"],"additionalProperties":false}`},
		{"recursive tree", `{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"]}},"$ref":"#/$defs/node"}`},
		{"definitions", `{"definitions":{"n":{"type":"number"}},"type":"array","items":{"$ref":"#/definitions/n"},"minItems":1}`},
		{"true schema", `true`},
		{"untyped with properties", `{"properties":{"x":{"minimum":1,"maximum":2}},"required":["x"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, prompt := range []string{"Extract the event: Alice and Bob meet on Friday.", "", "数学 problem 🎉"} {
				out, err := sim.Instance([]byte(tc.schema), prompt)
				if err != nil {
					t.Fatalf("prompt %q: %v", prompt, err)
				}
				if err := validate(t, []byte(tc.schema), out); err != nil {
					t.Errorf("prompt %q: %s does not validate: %v", prompt, out, err)
				}
			}
		})
	}
}

func TestInstanceIsDeterministicAndFollowsTheSchemaOrder(t *testing.T) {
	schema := []byte(`{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"},"mid":{"type":"boolean"}},"required":["zeta","alpha","mid"]}`)
	a, err := sim.Instance(schema, "the same prompt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sim.Instance(schema, "the same prompt")
	if !bytes.Equal(a, b) {
		t.Errorf("same schema and prompt gave %s and %s", a, b)
	}
	z, al, m := bytes.Index(a, []byte(`"zeta"`)), bytes.Index(a, []byte(`"alpha"`)), bytes.Index(a, []byte(`"mid"`))
	if !(z >= 0 && z < al && al < m) {
		t.Errorf("keys out of the schema's order: %s", a)
	}
	c, _ := sim.Instance(schema, "a different prompt altogether")
	if bytes.Equal(a, c) {
		t.Errorf("different prompts gave the same answer %s", a)
	}
	var v struct{ Zeta string }
	if err := json.Unmarshal(a, &v); err != nil || !strings.ContainsAny(v.Zeta, "theprompt") {
		t.Errorf("strings should come from the prompt's words: %s (%v)", a, err)
	}
}

func TestInstanceUnsatisfiable(t *testing.T) {
	cases := []struct{ name, schema, want string }{
		{"false", `false`, "admits no value"},
		{"empty enum", `{"enum":[]}`, "enum is empty"},
		{"range", `{"type":"integer","minimum":5,"maximum":4}`, "between the minimum and the maximum"},
		{"lengths", `{"type":"string","minLength":5,"maxLength":2}`, "minLength"},
		{"items", `{"type":"array","minItems":3,"maxItems":1}`, "minItems"},
		{"required forbidden", `{"type":"object","required":["x"],"additionalProperties":false}`, `"x"`},
		{"endless recursion", `{"$defs":{"a":{"type":"object","properties":{"next":{"$ref":"#/$defs/a"}},"required":["next"]}},"$ref":"#/$defs/a"}`, "nests deeper"},
		{"remote ref", `{"$ref":"https://example.com/s.json"}`, "only local references"},
		{"dangling ref", `{"$ref":"#/$defs/missing"}`, "does not resolve"},
		{"bad pattern", `{"type":"string","pattern":"(["}`, "does not compile"},
		{"not json", `{"type":`, "not valid JSON"},
		{"unknown type", `{"type":"date"}`, "unknown type"},
		{"huge string", `{"type":"string","minLength":1e12}`, "longer than the simulator writes"},
		{"huge nested arrays", `{"type":"array","minItems":1000,"items":{"type":"array","minItems":1000,"items":{"type":"integer"}}}`, "larger than the simulator makes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.Instance([]byte(tc.schema), "prompt")
			if !errors.Is(err, sim.ErrUnsatisfiable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrUnsatisfiable naming %q", err, tc.want)
			}
		})
	}
}

func FuzzInstance(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"string","pattern":"^a+b$"}},"required":["a"]}`, "hi")
	f.Add(`{"anyOf":[{"type":"integer","multipleOf":3}]}`, "x")
	f.Fuzz(func(t *testing.T, schema, prompt string) {
		if len(schema) > 4096 {
			return
		}
		out, err := sim.Instance([]byte(schema), prompt)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("sim.Instance(%s) = %s: not JSON", schema, out)
		}
	})
}
