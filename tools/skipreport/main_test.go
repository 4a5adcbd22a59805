package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []skip
	}{
		{"a skip with its reason", `{"Action":"run","Package":"a/deploy","Test":"TestTF"}
{"Action":"output","Package":"a/deploy","Test":"TestTF","Output":"=== RUN   TestTF\n"}
{"Action":"output","Package":"a/deploy","Test":"TestTF","Output":"    terraform_test.go:40: terraform not on PATH\n"}
{"Action":"output","Package":"a/deploy","Test":"TestTF","Output":"--- SKIP: TestTF (0.00s)\n"}
{"Action":"skip","Package":"a/deploy","Test":"TestTF","Elapsed":0}
`, []skip{{"a/deploy", "TestTF", "terraform not on PATH"}}},
		{"passes, failures and package skips are not test skips", `{"Action":"pass","Package":"a/b","Test":"TestOK"}
{"Action":"fail","Package":"a/b","Test":"TestBad"}
{"Action":"skip","Package":"a/notests"}
`, nil},
		{"a subtest skip without a message", `{"Action":"skip","Package":"a/b","Test":"TestX/case"}
`, []skip{{"a/b", "TestX/case", ""}}},
		{"the reason is the last line logged, per test", `{"Action":"output","Package":"p","Test":"T1","Output":"    x_test.go:1: first\n"}
{"Action":"output","Package":"p","Test":"T2","Output":"    y_test.go:2: other test\n"}
{"Action":"output","Package":"p","Test":"T1","Output":"    x_test.go:9: why\n"}
{"Action":"skip","Package":"p","Test":"T1"}
`, []skip{{"p", "T1", "why"}}},
		{"plain build output between events is ignored", "# a/b\nbuild failed\n" + `{"Action":"skip","Package":"p","Test":"T"}` + "\n",
			[]skip{{"p", "T", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(strings.NewReader(tt.stream))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseRejectsBrokenJSON(t *testing.T) {
	if _, err := parse(strings.NewReader(`{"Action":` + "\n")); err == nil {
		t.Fatal("a truncated event should be an error, not an empty report")
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name  string
		skips []skip
		want  string
	}{
		{"none", nil, "== skipped tests: none (2 suites)\n"},
		{"grouped by reason, largest first", []skip{
			{"a/dash", "TestProm", "prometheus not found"},
			{"a/deploy", "TestFmt", "terraform not on PATH"},
			{"a/deploy", "TestPlan", "terraform not on PATH"},
		}, "== SKIPPED: 3 tests did not run and proved nothing; install what they name\n" +
			"2 tests skipped: terraform not on PATH\n    a/deploy TestFmt\n    a/deploy TestPlan\n" +
			"1 test skipped: prometheus not found\n    a/dash TestProm\n"},
		{"no reason", []skip{{"p", "T", ""}},
			"== SKIPPED: 1 test did not run and proved nothing; install what they name\n" +
				"1 test skipped: (no reason given)\n    p T\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			report(&b, tt.skips, 2)
			if b.String() != tt.want {
				t.Errorf("report:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
