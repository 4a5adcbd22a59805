package convo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"aiservice/service/internal/wire"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	type op struct {
		do    string // put, get, del, wait
		key   string
		value string
		ttl   time.Duration
		want  string // get: the value, or "" for not found; del: "ok" or ""
	}
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int64
		ops        []op
	}{
		{"put, get, replace, delete", 10, 1 << 20, []op{
			{do: "put", key: "a", value: "1", ttl: time.Hour}, {do: "get", key: "a", want: "1"},
			{do: "put", key: "a", value: "2", ttl: time.Hour}, {do: "get", key: "a", want: "2"},
			{do: "del", key: "a", want: "ok"}, {do: "get", key: "a"}, {do: "del", key: "a"},
		}},
		{"expiry", 10, 1 << 20, []op{
			{do: "put", key: "a", value: "1", ttl: time.Minute}, {do: "put", key: "b", value: "2", ttl: time.Hour},
			{do: "wait", ttl: time.Minute}, {do: "get", key: "a"}, {do: "get", key: "b", want: "2"}, {do: "del", key: "a"},
		}},
		{"entry bound evicts the least recently used", 2, 1 << 20, []op{
			{do: "put", key: "a", value: "1", ttl: time.Hour}, {do: "put", key: "b", value: "2", ttl: time.Hour},
			{do: "get", key: "a", want: "1"}, {do: "put", key: "c", value: "3", ttl: time.Hour},
			{do: "get", key: "b"}, {do: "get", key: "a", want: "1"}, {do: "get", key: "c", want: "3"},
		}},
		{"byte bound", 10, 7, []op{
			{do: "put", key: "a", value: "123", ttl: time.Hour}, {do: "put", key: "b", value: "456", ttl: time.Hour},
			{do: "get", key: "a"}, {do: "get", key: "b", want: "456"},
			{do: "put", key: "c", value: "too large to keep", ttl: time.Hour}, {do: "get", key: "c"}, {do: "get", key: "b", want: "456"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			m := NewMemory(tt.maxEntries, tt.maxBytes, c.now)
			for i, o := range tt.ops {
				switch o.do {
				case "put":
					if err := m.Put(ctx, o.key, []byte(o.value), o.ttl); err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
				case "wait":
					c.add(o.ttl)
				case "get":
					v, err := m.Get(ctx, o.key)
					if o.want == "" && !errors.Is(err, ErrNotFound) || o.want != "" && (err != nil || string(v) != o.want) {
						t.Fatalf("op %d: get %s = %q, %v; want %q", i, o.key, v, err, o.want)
					}
				case "del":
					err := m.Delete(ctx, o.key)
					if o.want == "ok" && err != nil || o.want == "" && !errors.Is(err, ErrNotFound) {
						t.Fatalf("op %d: delete %s = %v", i, o.key, err)
					}
				}
			}
			if m.Len() > tt.maxEntries {
				t.Errorf("%d entries, bound %d", m.Len(), tt.maxEntries)
			}
		})
	}
}

func TestMemoryStaysBoundedUnderLoad(t *testing.T) {
	m := NewMemory(50, 4096, time.Now)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("k%d-%d", g, i)
				_ = m.Put(context.Background(), k, make([]byte, 100), time.Hour)
				_, _ = m.Get(context.Background(), k)
			}
		})
	}
	wg.Wait()
	if m.Len() > 50 || m.bytes > 4096 {
		t.Errorf("%d entries, %d bytes", m.Len(), m.bytes)
	}
}

func TestLog(t *testing.T) {
	ctx := context.Background()
	l := NewLog(NewMemory(10, 1<<20, time.Now), time.Hour)
	rec := &Record{Response: wire.Response{ID: "resp_1", Object: "response", Status: "completed"},
		Input: []wire.InputItem{{Type: "message", ID: "m1", Role: "user", Content: wire.ItemContent{Text: "hi", IsText: true}}}}
	rec.Conversation = rec.Input
	if err := l.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := l.Load(ctx, "resp_1")
	if err != nil || got.Response.ID != "resp_1" || len(got.Input) != 1 || got.Input[0].Content.Text != "hi" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if err := l.Delete(ctx, "resp_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(ctx, "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	if err := l.Delete(ctx, "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}
