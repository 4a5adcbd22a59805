package apperr

import "testing"

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		name           string
		err            *Error
		prefixes       []string // innermost first, as the callers apply them
		param, message string
	}{
		{"a field of an element", Invalid(".role", ".role must be user, not %q.", "bot"), []string{"messages[2]"},
			"messages[2].role", `messages[2].role must be user, not "bot".`},
		{"the element itself", Invalid("", " (function_call) needs call_id and name."), []string{"input[0]"},
			"input[0]", "input[0] (function_call) needs call_id and name."},
		{"nested lists", Invalid(".type", ".type: unknown content block type %q.", "x"), []string{".3", ".content", "messages.1"},
			"messages.1.content.3.type", `messages.1.content.3.type: unknown content block type "x".`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err
			for _, p := range tc.prefixes {
				e = e.Under(p)
			}
			if e.Param != tc.param || e.Message != tc.message || e.Kind != InvalidRequest {
				t.Errorf("got %q, %q, %v; want %q, %q", e.Param, e.Message, e.Kind, tc.param, tc.message)
			}
			if tc.err.Param == e.Param {
				t.Errorf("Under changed the element's error in place")
			}
		})
	}
}
