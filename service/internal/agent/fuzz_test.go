package agent

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/testkit"
)

func FuzzCalculate(f *testing.F) {
	for _, s := range []string{
		"1+2*3", "(2 + 3) * 4", "2^3^2", "-(-1)", "--1", "1/0", "1%0", "10^400", "0.1+0.2",
		"1.2.3", ")", "((((", "2 ** 3", "", " ", "\t7\t", "9999999999999999999999", "-0",
		strings.Repeat("(", 33) + "1" + strings.Repeat(")", 33), strings.Repeat("-", 40) + "1",
		strings.Repeat("2^", 40) + "2", strings.Repeat("1+", 128) + "1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		var v float64
		var err error
		testkit.Bounded(t, 2*time.Second, func() { v, err = Calculate(expr) })
		if err != nil {
			if !errors.Is(err, ErrExpression) {
				t.Fatalf("Calculate(%q) error %v does not wrap ErrExpression", expr, err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("Calculate(%q) = %v, want a finite number or an error", expr, v)
		}
		if len(expr) > maxExprLen {
			t.Fatalf("Calculate accepted %d characters", len(expr))
		}
		// Deterministic.
		if again, err := Calculate(expr); err != nil || again != v && !(math.IsNaN(again) && math.IsNaN(v)) {
			t.Fatalf("Calculate(%q) = %v then %v, %v", expr, v, again, err)
		}
		// The printed result reads back as (nearly) the same number when it has no exponent.
		s := FormatNumber(v)
		if strings.ContainsAny(s, "eE") {
			return
		}
		back, err := Calculate(s)
		if err != nil {
			t.Fatalf("FormatNumber(%v) = %q does not parse back: %v", v, s, err)
		}
		if diff := math.Abs(back - v); diff > 1e-11*math.Max(1, math.Abs(v)) {
			t.Fatalf("%q = %v printed %q reads back %v", expr, v, s, back)
		}
	})
}
