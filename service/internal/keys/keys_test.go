package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"aiservice/service/internal/config"
)

func hash(s string) config.Secret {
	d := sha256.Sum256([]byte(s))
	return config.Secret("sha256:" + hex.EncodeToString(d[:]))
}

func TestLookup(t *testing.T) {
	env := map[string]string{"CI_KEY": "sk-ci"}
	r, err := New(config.Secrets{"sk-plain"}, []config.VirtualKey{
		{Name: "team-a", Team: "a", Hash: hash("sk-a"), Models: []string{"gpt-4o-mini"}, RPM: 10},
		{Name: "ci", KeyEnv: "CI_KEY", DailyUSD: 1},
		{Name: "old", Hash: hash("sk-old"), Revoked: true},
	}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, name string
		err         error
		limited     bool
		allowsGPT4o bool
	}{
		{token: "sk-plain", name: "", allowsGPT4o: true},
		{token: "sk-a", name: "team-a", limited: true},
		{token: "sk-ci", name: "ci", limited: true, allowsGPT4o: true},
		{token: "sk-old", err: ErrInvalid},
		{token: "sk-unknown", err: ErrInvalid},
		{token: "", err: ErrInvalid},
	} {
		k, err := r.Lookup(tc.token)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: err %v, want %v", tc.token, err, tc.err)
		}
		if err != nil {
			continue
		}
		if k.Name != tc.name || k.Limited() != tc.limited || k.Allows("gpt-4o") != tc.allowsGPT4o || !k.Allows("gpt-4o-mini") {
			t.Fatalf("%s: got %+v", tc.token, k)
		}
	}
	if !r.Required() || len(r.Names()) != 2 {
		t.Fatalf("required %v, names %v", r.Required(), r.Names())
	}
}

func TestEmptyEnvFails(t *testing.T) {
	if _, err := New(nil, []config.VirtualKey{{Name: "ci", KeyEnv: "NOPE"}}, func(string) string { return "" }); err == nil {
		t.Fatal("a key_env that is not set must fail the start")
	}
}

func FuzzLookup(f *testing.F) {
	r, _ := New(config.Secrets{"sk-plain"}, []config.VirtualKey{{Name: "a", Hash: hash("sk-a")}}, nil)
	f.Add("sk-a")
	f.Add("sk-plain")
	f.Fuzz(func(t *testing.T, token string) {
		k, err := r.Lookup(token)
		if (err == nil) != (token == "sk-a" || token == "sk-plain") || (err == nil) != (k != nil) {
			t.Fatalf("%q: %v %v", token, k, err)
		}
	})
}
