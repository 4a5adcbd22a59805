package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/sse"
)

// cached is what the response cache does for one request: where its answer lives (key; ""
// when the request is not cached) and whether to look (Cache-Control: no-cache skips it) and
// to write (no-store skips it).
type cached struct {
	key           string
	kind          string
	lookup, write bool
	record        bool // a stream is recorded though not written: followers wait for it
}

// cacheFor decides a request's caching from its key's policy (or cache.default) and its
// Cache-Control header.
func (s *server) cacheFor(c *gin.Context, kind, model string, raw []byte) cached {
	policy, scope := s.cfg.Cache.Default, "shared"
	if k := keyOf(c); k != nil && k.Name != "" {
		if k.Cache != "" {
			policy = k.Cache
		}
		switch policy {
		case "key":
			scope = "key:" + k.Name
		case "team":
			scope = "team:" + k.Team
			if k.Team == "" {
				scope = "key:" + k.Name
			}
		}
	}
	if policy == "off" {
		return cached{}
	}
	key, ok := s.cache.Key(scope, kind, model, raw)
	if !ok {
		return cached{}
	}
	cc := strings.ToLower(c.GetHeader("Cache-Control"))
	return cached{key: key, kind: kind, lookup: !strings.Contains(cc, "no-cache"), write: !strings.Contains(cc, "no-store")}
}

// renewal prepares a cached answer's replay as this request's own (Responses: a fresh id,
// stored; see gateway.Reissue), or refuses it before anything is sent; nil: the answer as cached.
type renewal func(e *cache.Entry) (*gateway.Reissue, error)

// answer writes a JSON answer through the cache. Identical requests share one lookup and, on
// a miss, one upstream call (single-flight): the first looks up and, on a miss, calls fetch
// (the surface's gateway call) and stores the success before the others get it, so N identical
// requests make one upstream call; a hit is replayed at $0 to each. Cache-Control: no-cache
// neither looks up nor waits on another's call.
func (s *server) answer(c *gin.Context, kind, model string, raw []byte, fetch func() ([]byte, *gateway.Call, error), renew renewal) {
	ck := s.cacheFor(c, kind, model, raw)
	ctx := c.Request.Context()
	if ck.key == "" || !ck.lookup {
		e, call, err := s.fetchStored(ctx, ck, fetch)
		if ck.key != "" {
			c.Header("X-Cache", "MISS")
		}
		s.reply(c, bodyOf(e), call, err)
		return
	}
	var call *gateway.Call
	var found bool
	e, leader, err := s.cache.Shared(ck.key, func() (e *cache.Entry, err error) {
		if e, found = s.cache.Get(ctx, kind, ck.key); found {
			return e, nil
		}
		e, call, err = s.fetchStored(ctx, ck, fetch)
		return e, err
	})
	switch {
	case !leader:
		s.follow(c, kind, e, err, fetch, renew)
	case found:
		s.hit(c, e, renew)
	default:
		c.Header("X-Cache", "MISS")
		s.reply(c, bodyOf(e), call, err)
	}
}

// fetchStored calls the upstream (fetch) and stores a success when the request is cached and
// allows the write.
func (s *server) fetchStored(ctx context.Context, ck cached, fetch func() ([]byte, *gateway.Call, error)) (*cache.Entry, *gateway.Call, error) {
	body, call, err := fetch()
	if err != nil {
		return nil, call, err
	}
	e := &cache.Entry{Body: body, CostUSD: call.CostUSD}
	if ck.key != "" && ck.write {
		s.cache.Put(ctx, ck.key, e)
	}
	return e, call, nil
}

// bodyOf is an entry's body; nil for none (a failed call).
func bodyOf(e *cache.Entry) []byte {
	if e == nil {
		return nil
	}
	return e.Body
}

// follow answers a request that waited on another's identical miss: with its answer, as a
// hit; after its failure (or its client leaving, which is not this request's), by its own call.
func (s *server) follow(c *gin.Context, kind string, e *cache.Entry, err error, fetch func() ([]byte, *gateway.Call, error), renew renewal) {
	if err != nil {
		body, call, err := fetch()
		s.reply(c, body, call, err)
		return
	}
	s.cache.Saved(kind, e.CostUSD)
	s.hit(c, e, renew)
}

// reply writes a gateway call's JSON answer or its error.
func (s *server) reply(c *gin.Context, body []byte, call *gateway.Call, err error) {
	exchangeOf(c).call = call
	if err != nil {
		s.fail(c, err)
		return
	}
	costHeader(c, call.Priced, call.CostUSD)
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// hit writes a cached answer: the client is charged nothing.
func (s *server) hit(c *gin.Context, e *cache.Entry, renew renewal) {
	body := cache.Free(e.Body)
	if renew != nil {
		x, err := renew(e)
		if err != nil {
			s.fail(c, err)
			return
		}
		body = x.Body(c.Request.Context(), body)
	}
	c.Header("X-Cache", "HIT")
	c.Header("X-Cost-USD", "0")
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// replaying is how a surface replays a cached stream: usage-only chunks only when the request
// asks for usage; named surfaces (Messages, Responses) end without `[DONE]`; renew as for a JSON
// answer.
type replaying struct {
	includeUsage, named bool
	renew               renewal
}

// streamed answers a stream through the cache. Identical requests in flight join one flight:
// the first (the leader) looks the cache up — a hit is replayed at $0 — or relays its upstream's
// stream (relay is the surface's own loop, which returns the recording of a stream that ran to
// its end); the others wait for what it found or recorded and replay that. When the leader's
// stream was cut, failed or was too large to keep, or a follower's client left, each follower
// makes its own call. The leader stores before it lands, so a request that comes later finds
// the entry: N identical requests make one upstream call.
func (s *server) streamed(c *gin.Context, ck cached, rp replaying, relay func(ck cached) *cache.Entry) {
	ctx := c.Request.Context()
	if ck.key != "" && ck.lookup {
		f, leader := s.cache.Join(ck.key)
		if leader {
			e, ok := s.cache.Get(ctx, ck.kind, ck.key)
			if ok {
				f.Land(e)
				s.replay(c, e, rp)
				return
			}
			ck.record = true // the followers need the recording even when this request stores nothing
			defer func() { f.Land(e) }()
			if e = relay(ck); e != nil && ck.write {
				s.cache.Put(ctx, ck.key, e)
			}
			return
		}
		if e, ok := f.Wait(ctx); ok {
			s.cache.Saved(ck.kind, e.CostUSD)
			s.replay(c, e, rp)
			return
		}
		if err := ctx.Err(); err != nil { // the client left, or its deadline passed, while it waited
			s.fail(c, fmt.Errorf("wait for an identical stream: %w", err))
			return
		}
	}
	if e := relay(ck); e != nil && ck.write {
		s.cache.Put(ctx, ck.key, e)
	}
}

// replay writes a cached stream as the upstream's was relayed, at $0: each event's cost_usd is
// 0.
func (s *server) replay(c *gin.Context, e *cache.Entry, rp replaying) {
	mine := func(_ string, data []byte) []byte { return data }
	if rp.renew != nil {
		x, err := rp.renew(e)
		if err != nil {
			s.fail(c, err)
			return
		}
		mine = func(name string, data []byte) []byte { return x.Event(c.Request.Context(), name, data) }
	}
	c.Header("X-Cache", "HIT")
	c.Header("X-Cost-USD", "0")
	startSSE(c)
	out := sse.NewWriter(c.Writer)
	for _, ev := range e.Events {
		if ev.UsageOnly && !rp.includeUsage {
			continue
		}
		if out.Event(ev.Name, mine(ev.Name, cache.Free(ev.Data))) != nil {
			return
		}
	}
	if !rp.named {
		_ = out.Last("", sse.Done)
	}
}

// recorder keeps a stream's events for the cache as they are relayed, within what the cache
// could store: a recording grown past it, or one that tells of a failure, is dropped (nil), and
// the stream is not kept.
type recorder struct {
	c      *cache.Cache
	events []cache.Event
	size   int64
}

func (s *server) recorder(ck cached) *recorder {
	if ck.key == "" || !ck.write && !ck.record {
		return nil
	}
	return &recorder{c: s.cache, events: []cache.Event{}}
}

// add records one event (nothing on a nil recorder or a dropped recording).
func (r *recorder) add(ev gateway.Event) {
	if r == nil || r.events == nil {
		return
	}
	if ev.Name == "error" || ev.Name == "response.failed" { // a failure told in the stream is no answer
		r.events = nil
		return
	}
	if r.size += int64(len(ev.Name) + len(ev.Data)); !r.c.Fits(r.size) {
		r.events = nil
		return
	}
	r.events = append(r.events, cache.Event{Name: ev.Name, Data: append([]byte(nil), ev.Data...), UsageOnly: ev.UsageOnly})
}

// entry is the recording of a stream that ran to its end, with what it cost; nil when there
// is none.
func (r *recorder) entry(call *gateway.Call) *cache.Entry {
	if r == nil || r.events == nil {
		return nil
	}
	return &cache.Entry{Events: r.events, CostUSD: call.CostUSD}
}
