package agent

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCalculate(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		want    float64
		wantErr string // substring of the error; "" means success
	}{
		{expr: "2 + 3", want: 5},
		{expr: "2 + 3 * 4", want: 14},   // * binds tighter than +
		{expr: "(2 + 3) * 4", want: 20}, // parentheses first
		{expr: "10 - 4 - 3", want: 3},   // left-associative
		{expr: "100 / 10 / 5", want: 2}, // left-associative
		{expr: "7 % 4", want: 3},        //
		{expr: "2 ^ 3 ^ 2", want: 512},  // right-associative: 2^(3^2)
		{expr: "-2 ^ 2", want: -4},      // ^ binds tighter than unary minus, as in ordinary notation
		{expr: "-3 + 5", want: 2},       // unary minus
		{expr: "--3", want: 3},          // double negation
		{expr: "+4", want: 4},           // unary plus
		{expr: "2 * -3", want: -6},      // unary after an operator
		{expr: "((((1))))", want: 1},    // nesting
		{expr: " \t1.5*2 ", want: 3},    // blanks and decimals
		{expr: "0.1 + 0.2", want: 0.30000000000000004},
		{expr: "1 / 0", wantErr: "division by zero"},
		{expr: "1 % 0", wantErr: "modulo by zero"},
		{expr: "10 ^ 400", wantErr: "not a finite number"},
		{expr: "", wantErr: "unexpected end"},
		{expr: "2 +", wantErr: "unexpected end"},
		{expr: "(2 + 3", wantErr: "missing )"},
		{expr: "2 + 3)", wantErr: "unexpected ')'"},
		{expr: "2 3", wantErr: "unexpected '3'"},
		{expr: "abc", wantErr: "unexpected 'a'"},
		{expr: "1.2.3", wantErr: "bad number"},
		{expr: "os.Exit(1)", wantErr: "unexpected 'o'"},
		{expr: "2 ** 3", wantErr: "unexpected '*'"},
		{expr: strings.Repeat("1+", 128) + "1", wantErr: "longer than 256"},
		{expr: strings.Repeat("(", 40) + "1" + strings.Repeat(")", 40), wantErr: "nested too deeply"},
		{expr: strings.Repeat("-", 40) + "1", wantErr: "nested too deeply"},
		{expr: strings.Repeat("2^", 40) + "1", wantErr: "nested too deeply"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := Calculate(tc.expr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Calculate(%q): %v", tc.expr, err)
				}
				if got != tc.want {
					t.Fatalf("Calculate(%q) = %v, want %v", tc.expr, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Calculate(%q) = %v, want an error containing %q", tc.expr, got, tc.wantErr)
			}
			if !errors.Is(err, ErrExpression) {
				t.Errorf("error %v does not wrap ErrExpression", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{42, "42"},
		{-7, "-7"},
		{2.5, "2.5"},
		{1.0 / 3, "0.333333333333"},
		{0.1 + 0.2, "0.3"}, // 12 significant digits hide float noise
		{1e15, "1e+15"},    // too large for the integer form
		{123456789012345, "123456789012345"},
		{math.Copysign(0, -1), "0"},
	} {
		if got := FormatNumber(tc.in); got != tc.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
