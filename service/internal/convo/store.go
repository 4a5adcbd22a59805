// Package convo keeps stored Responses — what `previous_response_id`, GET, DELETE and
// input_items read — behind a small byte-valued Store, so the embedded bounded memory store
// can be swapped for a shared one (Redis) that holds conversations across replicas.
package convo

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNotFound is an unknown, deleted or expired key.
var ErrNotFound = errors.New("not found")

// Store holds values by key for a time. Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the value, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores the value for ttl (replacing any value of that key).
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the key; ErrNotFound when there was none.
	Delete(ctx context.Context, key string) error
}

// Memory is a Store in this process, bounded by entries and by bytes (keys and values): the
// least recently used entries go first when either bound is reached; expired entries are
// dropped when met. It is written here rather than taken from golang-lru because entries have
// their own TTL and the bound is in bytes as well as entries.
type Memory struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int64
	bytes      int64
	order      *list.List // front: most recently used
	byKey      map[string]*list.Element
	now        func() time.Time
}

type entry struct {
	key     string
	value   []byte
	expires time.Time
}

// NewMemory makes a memory store of at most maxEntries entries and maxBytes bytes; now is the
// clock (time.Now outside tests).
func NewMemory(maxEntries int, maxBytes int64, now func() time.Time) *Memory {
	return &Memory{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}, now: now}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byKey[key]
	if !ok {
		return nil, ErrNotFound
	}
	e := el.Value.(*entry)
	if !m.now().Before(e.expires) {
		m.remove(el)
		return nil, ErrNotFound
	}
	m.order.MoveToFront(el)
	return e.value, nil
}

// Put implements Store. A value larger than the whole bound is not kept (and not an error:
// the store is a cache of conversations, and the response itself was still answered).
func (m *Memory) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byKey[key]; ok {
		m.remove(el)
	}
	size := int64(len(key) + len(value))
	if size > m.maxBytes || ttl <= 0 {
		return nil
	}
	m.byKey[key] = m.order.PushFront(&entry{key: key, value: value, expires: m.now().Add(ttl)})
	m.bytes += size
	for m.order.Len() > m.maxEntries || m.bytes > m.maxBytes {
		m.remove(m.order.Back())
	}
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byKey[key]
	if !ok {
		return ErrNotFound
	}
	expired := !m.now().Before(el.Value.(*entry).expires)
	m.remove(el)
	if expired {
		return ErrNotFound
	}
	return nil
}

// Len is the number of entries held (expired ones not yet met included).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *Memory) remove(el *list.Element) {
	e := m.order.Remove(el).(*entry)
	delete(m.byKey, e.key)
	m.bytes -= int64(len(e.key) + len(e.value))
}
