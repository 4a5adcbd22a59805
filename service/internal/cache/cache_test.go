package cache

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
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
		{"store is not: only a stored response can be retrieved and continued", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"store":false}`, false, true},
		{"previous_response_id is the conversation", "s", "m", `{"messages":[{"role":"user","content":"hi"}],"previous_response_id":"resp_1"}`, false, true},
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
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		e     *Entry
		calls bool
	}{
		{"chat", &Entry{Body: []byte(`{"choices":[{"message":{"tool_calls":[{"id":"1"}]}}]}`)}, true},
		{"chat stream", &Entry{Events: []Event{{Data: []byte(`{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}`)}}}, true},
		{"responses", &Entry{Body: []byte(`{"output":[{"type":"message"},{"type":"function_call","name":"f"}]}`)}, true},
		{"responses stream", &Entry{Events: []Event{{Name: "response.output_item.added", Data: []byte(`{"item":{"type":"function_call"}}`)}}}, true},
		{"messages", &Entry{Body: []byte(`{"content":[{"type":"text"},{"type":"tool_use","id":"t"}]}`)}, true},
		{"messages stream", &Entry{Events: []Event{{Name: "content_block_start", Data: []byte(`{"content_block":{"type":"tool_use"}}`)}}}, true},
		{"a chat answer in text", &Entry{Body: []byte(`{"choices":[{"message":{"content":"hi"}}]}`)}, false},
		{"a Responses message", &Entry{Body: []byte(`{"output":[{"type":"message"}]}`)}, false},
		{"an Anthropic text block", &Entry{Events: []Event{{Data: []byte(`{"content_block":{"type":"text"}}`)}}}, false},
	} {
		c := newCache(t, 1<<20, &now)
		c.Put(ctx, "k", tc.e)
		if _, ok := c.Get(ctx, KindChat, "k"); ok == tc.calls {
			t.Errorf("%s: cached %v, calls tools %v", tc.name, ok, tc.calls)
		}
	}
}

func TestFree(t *testing.T) {
	for in, want := range map[string]string{
		`{"usage":{"total_tokens":3,"cost_usd":0.5}}`:                         `{"usage":{"total_tokens":3,"cost_usd":0}}`,
		`{"usage":{"total_tokens":3}}`:                                        `{"usage":{"total_tokens":3}}`,
		`{"type":"response.completed","response":{"usage":{"cost_usd":0.2}}}`: `{"type":"response.completed","response":{"usage":{"cost_usd":0}}}`,
		`{"type":"message_start","message":{"usage":{"cost_usd":1e-5}}}`:      `{"type":"message_start","message":{"usage":{"cost_usd":0}}}`,
		`{"type":"message_delta","usage":{"output_tokens":2,"cost_usd":3}}`:   `{"type":"message_delta","usage":{"output_tokens":2,"cost_usd":0}}`,
	} {
		if got := string(Free([]byte(in))); got != want {
			t.Errorf("Free(%s) = %s", in, got)
		}
	}
}

// TestFlight: concurrent joiners of one key have one leader; the followers get its recording,
// or nothing when it was cut; a follower whose context ends leaves without it.
func TestFlight(t *testing.T) {
	now := time.Now()
	c := newCache(t, 1<<20, &now)
	rec := &Entry{Events: []Event{{Data: []byte(`{"x":1}`)}}}
	for _, tc := range []struct {
		name   string
		landed *Entry
		ok     bool
	}{{"recorded", rec, true}, {"cut", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 8
			var wg sync.WaitGroup
			var leaders, got atomic.Int32
			release := make(chan struct{})
			for range n {
				wg.Go(func() {
					f, leader := c.Join("k")
					if leader {
						leaders.Add(1)
						<-release
						f.Land(tc.landed)
						return
					}
					if e, ok := f.Wait(context.Background()); ok == tc.ok && (!ok || e == rec) {
						got.Add(1)
					}
				})
			}
			for c.waiting("k") == nil { // the leader is in
				runtime.Gosched()
			}
			close(release)
			wg.Wait()
			// Joiners after the leader landed lead flights of their own: all of them agree.
			if leaders.Load() < 1 || leaders.Load()+got.Load() != n {
				t.Fatalf("%d leaders, %d followers as expected, of %d", leaders.Load(), got.Load(), n)
			}
		})
	}
	t.Run("a follower leaves", func(t *testing.T) {
		f, _ := c.Join("gone")
		other, leader := c.Join("gone")
		if leader || other != f {
			t.Fatal("a second joiner must follow")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, ok := other.Wait(ctx); ok {
			t.Fatal("a follower whose context ended got an entry")
		}
		f.Land(rec)
		if c.waiting("gone") != nil {
			t.Fatal("a landed flight is still joinable")
		}
	})
}

// waiting is the flight of key, if one is in the air.
func (c *Cache) waiting(key string) *Flight {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flights[key]
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
