// Package cache is the exact-match response cache: a successful answer (a chat completion, a
// stream's chunks, an embeddings list) stored under the hash of its normalized request, scoped
// per key, per team or shared, for a TTL. In the process it is an LRU bounded in bytes; with
// store.url it lives in the shared store. Concurrent identical misses share one upstream call
// (single-flight). A hit costs the client nothing and counts what it saved.
package cache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"golang.org/x/sync/singleflight"

	"aiservice/service/internal/store"
)

// Options configure the cache.
type Options struct {
	// Store holds the entries when shared (Redis); nil: the in-process LRU of MaxBytes.
	Store    store.Bytes
	TTL      time.Duration
	MaxBytes int64
	// ToolCalls and AnyTemperature widen what is cached: answers that call tools, requests
	// sampled with temperature > 0.
	ToolCalls, AnyTemperature bool
	Registry                  prometheus.Registerer
	Log                       *slog.Logger
	Clock                     func() time.Time
}

// Cache stores and replays answers.
type Cache struct {
	o     Options
	lru   *lru
	group singleflight.Group
	m     *metrics
}

// Entry is one cached answer: a body, or a stream's chunks, and what it cost when it was made.
type Entry struct {
	Body    []byte  `json:"body,omitempty"`
	Events  []Event `json:"events,omitempty"`
	CostUSD float64 `json:"cost_usd"`
}

// Event is one chunk of a cached stream.
type Event struct {
	Name      string `json:"name,omitempty"` // the SSE event name, for named events
	Data      []byte `json:"data"`
	UsageOnly bool   `json:"usage_only,omitempty"`
}

// New builds the cache and registers its metrics.
func New(o Options) *Cache {
	c := &Cache{o: o, m: newMetrics(o.Registry)}
	if o.Store == nil {
		c.lru = newLRU(o.MaxBytes, o.Clock, c.m)
	}
	return c
}

// Kinds label the metrics (a closed set).
const (
	KindChat       = "chat"
	KindStream     = "stream"
	KindEmbeddings = "embeddings"
)

// ignored are the request fields that do not change the answer.
var ignored = []string{"user", "stream", "stream_options", "metadata"}

// Key is the cache key of a request: its scope, its kind and its JSON normalized — decoded,
// the ignored fields dropped, the resolved model set, and encoded again with sorted keys, so
// spacing and field order do not matter. Fields the gateway does not know stay in the key:
// they may change the answer. ok is false for a request that is not cacheable (temperature
// above zero, unless allowed).
func (c *Cache) Key(scope, kind, model string, raw []byte) (key string, ok bool) {
	if t := gjson.GetBytes(raw, "temperature"); t.Exists() && t.Float() > 0 && !c.o.AnyTemperature {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return "", false
	}
	for _, f := range ignored {
		delete(m, f)
	}
	m["model"] = model
	b, err := json.Marshal(m)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(append([]byte(scope+"\x00"+kind+"\x00"), b...))
	return hex.EncodeToString(sum[:]), true
}

// Get looks an entry up.
func (c *Cache) Get(ctx context.Context, kind, key string) (*Entry, bool) {
	var b []byte
	var ok bool
	if c.lru != nil {
		b, ok = c.lru.get(key)
	} else {
		var err error
		if b, ok, err = c.o.Store.Get(ctx, "cache:"+key); err != nil {
			c.o.Log.WarnContext(ctx, "cache lookup failed; a miss", "error", err)
		}
	}
	var e Entry
	if ok && json.Unmarshal(b, &e) != nil {
		ok = false
	}
	if !ok {
		c.m.misses.WithLabelValues(kind).Inc()
		return nil, false
	}
	c.m.hits.WithLabelValues(kind).Inc()
	c.m.saved.Add(e.CostUSD)
	return &e, true
}

// Saved counts a follower of a shared miss: a hit on the leader's answer.
func (c *Cache) Saved(kind string, usd float64) {
	c.m.hits.WithLabelValues(kind).Inc()
	c.m.saved.Add(usd)
}

// Put stores an entry, unless it is not cacheable: an answer that calls tools (unless allowed).
func (c *Cache) Put(ctx context.Context, key string, e *Entry) {
	if !c.o.ToolCalls && callsTools(e) {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if c.lru != nil {
		c.lru.put(key, b, c.o.TTL)
		return
	}
	if err := c.o.Store.Set(ctx, "cache:"+key, b, c.o.TTL); err != nil {
		c.o.Log.WarnContext(ctx, "cache write failed", "error", err)
	}
}

func callsTools(e *Entry) bool {
	if e.Body != nil {
		return gjson.GetBytes(e.Body, "choices.#.message.tool_calls|#").Int() > 0
	}
	for _, ev := range e.Events {
		if gjson.GetBytes(ev.Data, "choices.#.delta.tool_calls|#").Int() > 0 {
			return true
		}
	}
	return false
}

// Shared runs fn once for concurrent callers of one key: the first (leader true) calls the
// upstream, the others wait for its entry. A follower whose leader failed gets the error.
func (c *Cache) Shared(key string, fn func() (*Entry, error)) (e *Entry, leader bool, err error) {
	var led bool
	v, err, _ := c.group.Do(key, func() (any, error) {
		led = true
		return fn()
	})
	if err != nil {
		return nil, led, err
	}
	return v.(*Entry), led, nil
}

// Free is a cached body as the client gets it on a hit: its usage.cost_usd is 0.
func Free(body []byte) []byte {
	if !gjson.GetBytes(body, "usage.cost_usd").Exists() {
		return body
	}
	out, err := sjson.SetBytes(body, "usage.cost_usd", 0)
	if err != nil {
		return body
	}
	return out
}

// lru is the in-process store of entries: bounded in bytes, least recently used out first.
type lru struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front: most recent
	items map[string]*list.Element
	clock func() time.Time
	m     *metrics
}

type item struct {
	key     string
	v       []byte
	expires time.Time
}

func newLRU(max int64, clock func() time.Time, m *metrics) *lru {
	return &lru{max: max, order: list.New(), items: map[string]*list.Element{}, clock: clock, m: m}
}

func (l *lru) get(key string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.items[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*item)
	if !l.clock().Before(it.expires) {
		l.remove(el)
		return nil, false
	}
	l.order.MoveToFront(el)
	return it.v, true
}

func (l *lru) put(key string, v []byte, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if int64(len(v)) > l.max {
		return // larger than the whole cache
	}
	if el, ok := l.items[key]; ok {
		l.remove(el)
	}
	l.items[key] = l.order.PushFront(&item{key: key, v: v, expires: l.clock().Add(ttl)})
	l.size += int64(len(v))
	for l.size > l.max {
		l.remove(l.order.Back())
		l.m.evictions.Inc()
	}
	l.m.bytes.Set(float64(l.size))
}

func (l *lru) remove(el *list.Element) {
	it := el.Value.(*item)
	l.order.Remove(el)
	delete(l.items, it.key)
	l.size -= int64(len(it.v))
	l.m.bytes.Set(float64(l.size))
}

type metrics struct {
	hits, misses     *prometheus.CounterVec
	evictions, saved prometheus.Counter
	bytes            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cache_hits_total",
			Help: "Requests answered from the response cache, by kind (chat, stream, embeddings)."}, []string{"kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cache_misses_total",
			Help: "Cacheable requests the cache did not have, by kind."}, []string{"kind"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "cache_evictions_total",
			Help: "Entries the in-process cache dropped to stay within cache.max_bytes."}),
		saved: prometheus.NewCounter(prometheus.CounterOpts{Name: "cost_saved_usd_total",
			Help: "USD the cache hits saved: what their answers cost when they were made."}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cache_bytes",
			Help: "Bytes the in-process cache holds."}),
	}
	reg.MustRegister(m.hits, m.misses, m.evictions, m.saved, m.bytes)
	for _, k := range []string{KindChat, KindStream, KindEmbeddings} {
		m.hits.WithLabelValues(k)
		m.misses.WithLabelValues(k)
	}
	return m
}
