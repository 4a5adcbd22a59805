package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExampleConfig keeps service/config.example.yaml true: it loads, and it shows every field
// of the Config type.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, field := range fieldPaths(reflect.TypeFor[Config](), "") {
		if !present(doc, strings.Split(field, ".")) {
			t.Errorf("config.example.yaml does not show %s", field)
		}
	}
}

// fieldPaths lists the YAML paths of a struct's fields; list elements are checked on the first
// element, maps of structs (prices) are not descended into.
func fieldPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" {
			out = append(out, fieldPaths(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		out = append(out, path)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, fieldPaths(ft.Elem(), path+".0.")...)
		} else if ft.Kind() == reflect.Struct {
			out = append(out, fieldPaths(ft, path+".")...)
		}
	}
	return out
}

func present(doc any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch v := doc.(type) {
	case map[string]any:
		child, ok := v[path[0]]
		return ok && present(child, path[1:])
	case []any:
		if path[0] != "0" || len(v) == 0 {
			return false
		}
		// Any element showing the field will do: optional fields need not be on the first one.
		for _, el := range v {
			if present(el, path[1:]) {
				return true
			}
		}
	}
	return false
}
