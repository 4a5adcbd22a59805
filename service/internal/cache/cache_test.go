package cache

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newCache(t testing.TB, max int64, now *time.Time) *Cache {
	return New(Options{TTL: time.Minute, MaxBytes: max, Registry: prometheus.NewRegistry(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return *now }})
}

func TestKey(t *testing.T) {
	now := time.Now()
	c := newCache(t, 1<<20, &now)
	base, _ := c.Key("s", KindChat, "m", []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	for _, tc := range []struct {
		name, scope, model, raw string
		same, ok                bool
	}{
		{"spacing and order", "s", "m", `{ "messages" : [ {"content":"hi","role":"user"} ] }`, true, true},
		{"user, stream, stream_options and metadata are ignored", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"user":"u","stream":true,"stream_options":{"include_usage":true},"metadata":{"a":"b"}}`, true, true},
		{"the resolved model counts, not the one sent", "s", "m", `{"model":"alias","messages":[{"role":"user","content":"hi"}]}`, true, true},
		{"another scope", "t", "m", `{"messages":[{"role":"user","content":"hi"}]}`, false, true},
		{"another model", "s", "n", `{"messages":[{"role":"user","content":"hi"}]}`, false, true},
		{"a sampling parameter", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"seed":1}`, false, true},
		{"an unknown field", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"logprobs":true}`, false, true},
		{"temperature 0 is cached", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"temperature":0}`, false, true},
		{"temperature above 0 is not", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.2}`, false, false},
		{"not JSON", "s", "m", `{"messages":`, false, false},
	} {
		k, ok := c.Key(tc.scope, KindChat, tc.model, []byte(tc.raw))
		if ok != tc.ok || ok && (k == base) != tc.same {
			t.Errorf("%s: ok %v, same %v", tc.name, ok, k == base)
		}
	}
}

func TestLRU(t *testing.T) {
	now := time.Now()
	c := newCache(t, 200, &now)
	ctx := context.Background()
	e := &Entry{Body: make([]byte, 40)} // about 70 bytes encoded
	c.Put(ctx, "a", e)
	c.Put(ctx, "b", e)
	if _, ok := c.Get(ctx, KindChat, "a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.Put(ctx, "c", e) // over 200 bytes: b, the least recently used, goes
	if _, ok := c.Get(ctx, KindChat, "b"); ok {
		t.Fatal("b should have been evicted")
	}
	if testutil.ToFloat64(c.m.evictions) != 1 || testutil.ToFloat64(c.m.bytes) > 200 {
		t.Fatalf("evictions %v, bytes %v", testutil.ToFloat64(c.m.evictions), testutil.ToFloat64(c.m.bytes))
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get(ctx, KindChat, "a"); ok {
		t.Fatal("an entry past its TTL was served")
	}
}

func TestToolCallsNotCached(t *testing.T) {
	now := time.Now()
	c := newCache(t, 1<<20, &now)
	ctx := context.Background()
	c.Put(ctx, "t", &Entry{Body: []byte(`{"choices":[{"message":{"tool_calls":[{"id":"1"}]}}]}`)})
	c.Put(ctx, "s", &Entry{Events: []Event{{Data: []byte(`{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}`)}}})
	for _, k := range []string{"t", "s"} {
		if _, ok := c.Get(ctx, KindChat, k); ok {
			t.Fatalf("%s: an answer that calls tools was cached", k)
		}
	}
}

func TestFree(t *testing.T) {
	for in, want := range map[string]string{
		`{"usage":{"total_tokens":3,"cost_usd":0.5}}`: `{"usage":{"total_tokens":3,"cost_usd":0}}`,
		`{"usage":{"total_tokens":3}}`:                `{"usage":{"total_tokens":3}}`,
	} {
		if got := string(Free([]byte(in))); got != want {
			t.Errorf("Free(%s) = %s", in, got)
		}
	}
}

func FuzzKey(f *testing.F) {
	now := time.Now()
	c := newCache(f, 1<<20, &now)
	f.Add([]byte(`{"messages":[{"role":"user","content":"hi"}],"temperature":0}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		k1, ok1 := c.Key("s", KindChat, "m", raw)
		k2, ok2 := c.Key("s", KindChat, "m", raw)
		if ok1 != ok2 || k1 != k2 || ok1 && len(k1) != 64 {
			t.Fatalf("%q: unstable key", raw)
		}
	})
}
