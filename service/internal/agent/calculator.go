package agent

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits of the calculator: bounded input size and nesting keep a hostile expression cheap.
const (
	maxExprLen   = 256
	maxExprDepth = 32
)

// ErrExpression is the class of all calculator input errors.
var ErrExpression = errors.New("invalid expression")

// Calculate evaluates an arithmetic expression: numbers, + - * / % ^, unary minus and
// parentheses. It never executes code and rejects anything else.
func Calculate(expr string) (float64, error) {
	if len(expr) > maxExprLen {
		return 0, fmt.Errorf("%w: longer than %d characters", ErrExpression, maxExprLen)
	}
	p := &parser{s: expr}
	v, err := p.sum(0)
	if err != nil {
		return 0, err
	}
	p.space()
	if p.i < len(p.s) {
		return 0, fmt.Errorf("%w: unexpected %q at position %d", ErrExpression, p.s[p.i], p.i+1)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%w: the result is not a finite number", ErrExpression)
	}
	return v, nil
}

// FormatNumber prints a result without float noise: integers without a fraction.
func FormatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 12, 64)
}

type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// sum := product (('+'|'-') product)*
func (p *parser) sum(depth int) (float64, error) {
	v, err := p.product(depth)
	if err != nil {
		return 0, err
	}
	for {
		switch p.peek() {
		case '+':
			p.i++
			r, err := p.product(depth)
			if err != nil {
				return 0, err
			}
			v += r
		case '-':
			p.i++
			r, err := p.product(depth)
			if err != nil {
				return 0, err
			}
			v -= r
		default:
			return v, nil
		}
	}
}

// product := unary (('*'|'/'|'%') unary)*
func (p *parser) product(depth int) (float64, error) {
	v, err := p.unary(depth)
	if err != nil {
		return 0, err
	}
	for {
		op := p.peek()
		if op != '*' && op != '/' && op != '%' {
			return v, nil
		}
		p.i++
		r, err := p.unary(depth)
		if err != nil {
			return 0, err
		}
		switch op {
		case '*':
			v *= r
		case '/':
			if r == 0 {
				return 0, fmt.Errorf("%w: division by zero", ErrExpression)
			}
			v /= r
		case '%':
			if r == 0 {
				return 0, fmt.Errorf("%w: modulo by zero", ErrExpression)
			}
			v = math.Mod(v, r)
		}
	}
}

// unary := ('-'|'+') unary | power — so -2^2 is -(2^2), as in ordinary notation.
func (p *parser) unary(depth int) (float64, error) {
	if depth > maxExprDepth {
		return 0, fmt.Errorf("%w: nested too deeply", ErrExpression)
	}
	switch p.peek() {
	case '-':
		p.i++
		v, err := p.unary(depth + 1)
		return -v, err
	case '+':
		p.i++
		return p.unary(depth + 1)
	}
	return p.power(depth)
}

// power := primary ('^' unary)?   (right-associative; the exponent may be signed: 2^-1)
func (p *parser) power(depth int) (float64, error) {
	v, err := p.primary(depth)
	if err != nil {
		return 0, err
	}
	if p.peek() == '^' {
		p.i++
		if depth+1 > maxExprDepth {
			return 0, fmt.Errorf("%w: nested too deeply", ErrExpression)
		}
		e, err := p.unary(depth + 1)
		if err != nil {
			return 0, err
		}
		return math.Pow(v, e), nil
	}
	return v, nil
}

// primary := number | '(' sum ')'
func (p *parser) primary(depth int) (float64, error) {
	c := p.peek()
	if c == '(' {
		if depth+1 > maxExprDepth {
			return 0, fmt.Errorf("%w: nested too deeply", ErrExpression)
		}
		p.i++
		v, err := p.sum(depth + 1)
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, fmt.Errorf("%w: missing )", ErrExpression)
		}
		p.i++
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
		p.i++
	}
	if start == p.i {
		if c == 0 {
			return 0, fmt.Errorf("%w: unexpected end", ErrExpression)
		}
		return 0, fmt.Errorf("%w: unexpected %q at position %d", ErrExpression, c, p.i+1)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(p.s[start:p.i]), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad number %q", ErrExpression, p.s[start:p.i])
	}
	return v, nil
}
