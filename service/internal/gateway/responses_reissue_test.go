package gateway

import "testing"

func TestReissueRewrite(t *testing.T) {
	const old, fresh = "resp_abcdefghijklmnopqrstuvwxyz", "resp_0123456789abcdefghijklmn"
	for _, tc := range []struct {
		name, old, in, want string
	}{
		{"the response id and its items' ids", old,
			`{"id":"resp_abcdefghijklmnopqrstuvwxyz","output":[{"id":"msg_abcdefghijklmnopqrstuvwxyz_0"}]}`,
			`{"id":"resp_0123456789abcdefghijklmn","output":[{"id":"msg_0123456789abcdefghijklmn_0"}]}`},
		{"an event carrying the response", old,
			`{"type":"response.created","response":{"id":"resp_abcdefghijklmnopqrstuvwxyz"}}`,
			`{"type":"response.created","response":{"id":"resp_0123456789abcdefghijklmn"}}`},
		{"an upstream's item ids of another shape stay", old, `{"item":{"id":"msg_67cb71b3"}}`, `{"item":{"id":"msg_67cb71b3"}}`},
		{"an id too short to be told apart from text is not rewritten", "resp_ab", `{"text":"about"}`, `{"text":"about"}`},
	} {
		x := &Reissue{old: []byte(tc.old[len("resp_"):]), fresh: []byte(fresh[len("resp_"):])}
		if got := string(x.rewrite([]byte(tc.in))); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
