package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEmbeddingInput(t *testing.T) {
	for _, tc := range []struct {
		in         string
		set, shape bool
		texts      []string
		tokens     [][]int
		counts     []int // TokensAt of each input
	}{
		{`"hello world!"`, true, true, []string{"hello world!"}, nil, []int{3}},
		{`["a","bcdef"]`, true, true, []string{"a", "bcdef"}, nil, []int{1, 2}},
		{`[1,2,3]`, true, true, nil, [][]int{{1, 2, 3}}, []int{3}},
		{`[[1,2],[3]]`, true, true, nil, [][]int{{1, 2}, {3}}, []int{2, 1}},
		{`[]`, true, true, []string{}, nil, nil},
		{`null`, false, false, nil, nil, nil},
		{`["a",[1]]`, true, false, nil, nil, nil}, // mixed: no shape, and nothing half-decoded
		{`[1,"a"]`, true, false, nil, nil, nil},
		{`[1.5]`, true, false, nil, nil, nil},
		{`{"a":1}`, true, false, nil, nil, nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var in EmbeddingInput
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			if in.Set != tc.set || in.Shape != tc.shape || !reflect.DeepEqual(in.Texts, tc.texts) || !reflect.DeepEqual(in.Tokens, tc.tokens) {
				t.Fatalf("decoded %+v", in)
			}
			for i, want := range tc.counts {
				if got := in.TokensAt(i); got != want {
					t.Errorf("TokensAt(%d) = %d, want %d", i, got, want)
				}
			}
			if !tc.shape {
				return
			}
			b, err := json.Marshal(in)
			if err != nil || string(b) != tc.in {
				t.Errorf("re-encoded as %s (%v), want %s", b, err, tc.in)
			}
		})
	}
}
