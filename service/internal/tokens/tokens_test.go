package tokens

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abcd", 1},
		{"abcde", 2},
		{"hello world!", 3},
		// Runes, not bytes: four multi-byte characters are one token, as four ASCII ones are.
		{"日本語だ", 1},
		{"日本語です", 2},
	} {
		if got := Count(tc.in); got != tc.want {
			t.Errorf("Count(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		texts []string
		want  int
	}{
		{"no messages is the reply priming only", nil, 3},
		{"one empty message costs the per-message overhead", []string{""}, 3 + PerMessage},
		{"two messages", []string{"abcd", "abcdefgh"}, 3 + 2*PerMessage + 1 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Prompt(tc.texts); got != tc.want {
				t.Errorf("Prompt(%q) = %d, want %d", tc.texts, got, tc.want)
			}
		})
	}
}
