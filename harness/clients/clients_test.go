package clients

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"aiservice/harness/launch"
)

// jsDir is harness/js, installed once by TestMain.
var jsDir string

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setup() error {
	if _, err := launch.Binary(); err != nil {
		return err
	}
	dir, err := Dir()
	if err != nil {
		return err
	}
	// A cold install downloads ~30 packages; warm, it only compares a digest.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Install(ctx, dir); err != nil {
		return err
	}
	jsDir = dir
	return nil
}

// want is one expectation on a value of a case's JSON line, at a gjson path.
type want struct {
	desc string
	ok   func(gjson.Result) bool
}

func eq(v string) want {
	return want{fmt.Sprintf("%q", v), func(r gjson.Result) bool { return r.String() == v }}
}

func eqInt(v int64) want {
	return want{fmt.Sprint(v), func(r gjson.Result) bool { return r.Type == gjson.Number && r.Int() == v }}
}

func between(lo, hi int64) want {
	return want{fmt.Sprintf("an integer in [%d, %d]", lo, hi), func(r gjson.Result) bool {
		return r.Type == gjson.Number && r.Float() == float64(r.Int()) && r.Int() >= lo && r.Int() <= hi
	}}
}

func oneOf(vs ...string) want {
	return want{fmt.Sprintf("one of %q", vs), func(r gjson.Result) bool { return r.Type == gjson.String && slices.Contains(vs, r.String()) }}
}

func includes(v string) want {
	return want{fmt.Sprintf("an array including %q", v), func(r gjson.Result) bool {
		return r.IsArray() && slices.ContainsFunc(r.Array(), func(i gjson.Result) bool { return i.String() == v })
	}}
}

func contains(s string) want {
	return want{fmt.Sprintf("text containing %q", s), func(r gjson.Result) bool { return strings.Contains(r.String(), s) }}
}

var (
	isTrue   = want{"true", func(r gjson.Result) bool { return r.Type == gjson.True }}
	isFalse  = want{"false", func(r gjson.Result) bool { return r.Type == gjson.False }}
	text     = want{"a non-empty string", func(r gjson.Result) bool { return r.Type == gjson.String && strings.TrimSpace(r.String()) != "" }}
	positive = want{"a number > 0", func(r gjson.Result) bool { return r.Type == gjson.Number && r.Float() > 0 }}
	many     = want{"a number > 1", func(r gjson.Result) bool { return r.Type == gjson.Number && r.Float() > 1 }}
	strings1 = want{"a non-empty array of non-empty strings", func(r gjson.Result) bool {
		items := r.Array()
		return r.IsArray() && len(items) > 0 && !slices.ContainsFunc(items, func(i gjson.Result) bool { return i.Type != gjson.String || i.String() == "" })
	}}
)

// recipe is what every structured-output case must return for the scripts' zod schema
// (title, servings 1..12, ingredients, vegetarian), checked here as well as by zod in the script.
func recipe(at string) map[string]want {
	return map[string]want{
		at + ".title":       text,
		at + ".servings":    between(1, 12),
		at + ".ingredients": strings1,
		at + ".vegetarian":  {"a boolean", func(r gjson.Result) bool { return r.IsBool() }},
		"valid":             isTrue,
	}
}

func merge(ms ...map[string]want) map[string]want {
	out := map[string]want{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// caseNames is the CASES value that makes a script run only the cases of a table.
func caseNames(cases map[string]map[string]want) string {
	return strings.Join(slices.Sorted(maps.Keys(cases)), ",")
}

// check runs script and compares each case it printed with cases: every case must be printed,
// none unknown, and every path must hold what its want says.
func check(t *testing.T, script string, env []string, cases map[string]map[string]want) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	got, err := Run(ctx, jsDir, script, env...)
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if _, ok := cases[name]; !ok {
			t.Errorf("%s printed case %q that this test does not check", script, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) {
			line, ok := got[name]
			if !ok {
				t.Fatalf("%s printed no line for this case", script)
			}
			for _, path := range slices.Sorted(maps.Keys(cases[name])) {
				w := cases[name][path]
				if v := line.Get(path); !w.ok(v) {
					t.Errorf("%s = %s, want %s\nline: %s", path, v.Raw, w.desc, line.Raw)
				}
			}
		})
	}
}
