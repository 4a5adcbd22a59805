package convo

import (
	"context"
	"time"
)

// Bytes is a shared byte store with a TTL (store.Bytes: Redis or Valkey behind its breaker and
// timeout), so stored responses are read by every replica, whichever one created them.
type Bytes interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Shared is a Store in a shared byte store, its keys under prefix (one keyspace with the
// limits and the cache). Its size is the shared store's to bound: entries expire by their TTL.
func Shared(b Bytes, prefix string) Store { return shared{b: b, prefix: prefix} }

type shared struct {
	b      Bytes
	prefix string
}

func (s shared) Get(ctx context.Context, key string) ([]byte, error) {
	v, ok, err := s.b.Get(ctx, s.prefix+key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (s shared) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.b.Set(ctx, s.prefix+key, value, ttl)
}

// Delete reads before it deletes, to tell an unknown id (ErrNotFound): two replicas deleting
// one id at once may both report it deleted, which is what either client asked for.
func (s shared) Delete(ctx context.Context, key string) error {
	if _, err := s.Get(ctx, key); err != nil {
		return err
	}
	return s.b.Delete(ctx, s.prefix+key)
}
