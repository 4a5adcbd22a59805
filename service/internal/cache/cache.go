// Package cache is the exact-match response cache: a successful answer (a chat completion, a
// stream's events, an embeddings list, a Responses object or an Anthropic message) stored under
// the hash of its normalized request, scoped per key, per team or shared, for a TTL. In the
// process it is an LRU bounded in bytes; with store.url it lives in the shared store.
// Concurrent identical misses share one upstream call (single-flight; for streams, Join). A hit
// costs the client nothing and counts what it saved.
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

	mu      sync.Mutex
	flights map[string]*Flight // the stream misses in flight, by key
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
	c := &Cache{o: o, m: newMetrics(o.Registry), flights: map[string]*Flight{}}
	if o.Store == nil {
		c.lru = newLRU(o.MaxBytes, o.Clock, c.m)
	}
	return c
}

// Kinds label the metrics (a closed set) and are part of the key: the same JSON sent to two
// surfaces (a chat and a Messages request can be spelled alike) is two answers.
const (
	KindChat            = "chat"
	KindStream          = "stream"
	KindEmbeddings      = "embeddings"
	KindResponses       = "responses"
	KindResponsesStream = "responses_stream"
	KindMessages        = "messages"
	KindMessagesStream  = "messages_stream"
)

var kinds = []string{KindChat, KindStream, KindEmbeddings, KindResponses, KindResponsesStream, KindMessages, KindMessagesStream}

// ignored are the request fields that do not change the answer. Responses' `store` stays: an
// upstream that speaks Responses keeps (and continues) its response only when it was asked to,
// and a hit replays that response under its id (gateway.Reissue).
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

// toolCalls find the tool calls of an answer (or an event) in each surface's shape: chat's
// tool_calls, Responses' function_call items, Anthropic's tool_use blocks — a count above zero,
// or the type named.
var toolCalls = []struct{ path, is string }{
	{"choices.#.message.tool_calls|#", ""}, {`output.#(type=="function_call")#|#`, ""}, {`content.#(type=="tool_use")#|#`, ""},
	{"choices.#.delta.tool_calls|#", ""}, {"item.type", "function_call"}, {"content_block.type", "tool_use"},
}

func callsTools(e *Entry) bool {
	calls := func(b []byte) bool {
		for _, tc := range toolCalls {
			if r := gjson.GetBytes(b, tc.path); tc.is == "" && r.Int() > 0 || tc.is != "" && r.String() == tc.is {
				return true
			}
		}
		return false
	}
	if e.Body != nil {
		return calls(e.Body)
	}
	for _, ev := range e.Events {
		if calls(ev.Data) {
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

// costs are where an answer or an event carries the gateway's usage.cost_usd: at the top (chat,
// embeddings, Messages, Anthropic's message_delta), in a Responses event's response, in
// Anthropic's message_start.
var costs = []string{"usage.cost_usd", "response.usage.cost_usd", "message.usage.cost_usd"}

// Free is a cached body (or event) as the client gets it on a hit: its cost_usd is 0.
func Free(body []byte) []byte {
	for _, path := range costs {
		if !gjson.GetBytes(body, path).Exists() {
			continue
		}
		if out, err := sjson.SetBytes(body, path, 0); err == nil {
			body = out
		}
	}
	return body
}

// Fits is whether a recording of n bytes may still be stored: one larger than the whole cache
// (cache.max_bytes, which bounds the shared store's entries too) is dropped as it is made.
func (c *Cache) Fits(n int64) bool { return n <= c.o.MaxBytes }

// Flight is a stream miss in flight: identical requests wait for its recording rather than
// each reaching the upstream. singleflight's Do cannot serve here: the leader relays to its own
// client as the events come, and a follower must be able to leave when its client does.
type Flight struct {
	c    *Cache
	key  string
	done chan struct{}
	e    *Entry // set before done is closed; nil when the leader's stream was cut or failed
}

// Join returns the flight of key: a new one that this caller leads (it must Land it), or the
// one in flight, to Wait on.
func (c *Cache) Join(key string) (f *Flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	f = &Flight{c: c, key: key, done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

// Land ends a flight with the leader's recording (nil: cut, failed or too large), releasing
// its followers. Later identical requests find the entry in the cache, or lead a new flight.
func (f *Flight) Land(e *Entry) {
	f.c.mu.Lock()
	delete(f.c.flights, f.key)
	f.c.mu.Unlock()
	f.e = e
	close(f.done)
}

// Wait is the leader's recording once it lands; false when the leader had none or ctx ended
// first (the follower's client left, or its deadline passed).
func (f *Flight) Wait(ctx context.Context) (*Entry, bool) {
	select {
	case <-f.done:
		return f.e, f.e != nil
	case <-ctx.Done():
		return nil, false
	}
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
			Help: "Requests answered from the response cache, by kind (chat, stream, embeddings, responses, responses_stream, messages, messages_stream)."}, []string{"kind"}),
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
	for _, k := range kinds {
		m.hits.WithLabelValues(k)
		m.misses.WithLabelValues(k)
	}
	return m
}
