package convo

import (
	"context"
	"errors"
	"testing"
	"time"

	"aiservice/service/internal/store"
)

// TestShared runs the Store contract on the shared store's in-process backend (the Redis one
// has the same semantics, tested in package store against a real redis-server).
func TestShared(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	backend := store.NewMemory(c.now)
	s := Shared(backend, "aisvc:")
	steps := []struct {
		name string
		run  func() error
		want error
	}{
		{"unknown id", func() error { _, err := s.Get(ctx, "a"); return err }, ErrNotFound},
		{"put", func() error { return s.Put(ctx, "a", []byte("1"), time.Minute) }, nil},
		{"read back", func() error {
			v, err := s.Get(ctx, "a")
			if err == nil && string(v) != "1" {
				t.Errorf("got %q, want 1", v)
			}
			return err
		}, nil},
		{"kept under the prefix", func() error {
			if _, ok, _ := backend.Get(ctx, "aisvc:a"); !ok {
				t.Error("the value is not under its prefix")
			}
			return nil
		}, nil},
		{"expired", func() error { c.add(time.Minute); _, err := s.Get(ctx, "a"); return err }, ErrNotFound},
		{"delete an unknown id", func() error { return s.Delete(ctx, "a") }, ErrNotFound},
		{"put again", func() error { return s.Put(ctx, "a", []byte("2"), time.Hour) }, nil},
		{"delete", func() error { return s.Delete(ctx, "a") }, nil},
		{"gone", func() error { _, err := s.Get(ctx, "a"); return err }, ErrNotFound},
	}
	for _, st := range steps {
		if err := st.run(); !errors.Is(err, st.want) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
}
