package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
)

// cached is what the response cache does for one request: where its answer lives (key; ""
// when the request is not cached) and whether to look (Cache-Control: no-cache skips it) and
// to write (no-store skips it).
type cached struct {
	key           string
	kind          string
	lookup, write bool
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

// replayed answers from the cache when it has the stream.
func (s *server) replayed(c *gin.Context, ck cached, includeUsage bool) bool {
	if !ck.lookup {
		return false
	}
	e, ok := s.cache.Get(c.Request.Context(), ck.kind, ck.key)
	if ok {
		replay(c, e, includeUsage)
	}
	return ok
}

// answer writes a JSON answer through the cache: a hit is replayed at $0; concurrent identical
// misses share one upstream call; a success is stored. fetch is the surface's gateway call.
func (s *server) answer(c *gin.Context, kind, model string, raw []byte, fetch func() ([]byte, *gateway.Call, error)) {
	ck := s.cacheFor(c, kind, model, raw)
	if ck.key == "" {
		body, call, err := fetch()
		s.reply(c, body, call, err)
		return
	}
	if ck.lookup {
		if e, ok := s.cache.Get(c.Request.Context(), kind, ck.key); ok {
			s.hit(c, cache.Free(e.Body))
			return
		}
	}
	var call *gateway.Call
	e, leader, err := s.cache.Shared(ck.key, func() (*cache.Entry, error) {
		body, cl, err := fetch()
		call = cl
		if err != nil {
			return nil, err
		}
		return &cache.Entry{Body: body, CostUSD: cl.CostUSD}, nil
	})
	if !leader {
		s.follow(c, kind, e, err, fetch)
		return
	}
	if err == nil && ck.write {
		s.cache.Put(c.Request.Context(), ck.key, e)
	}
	c.Header("X-Cache", "MISS")
	var body []byte
	if e != nil {
		body = e.Body
	}
	s.reply(c, body, call, err)
}

// follow answers a request that waited on another's identical miss: with its answer, as a
// hit; after its failure (or its client leaving, which is not this request's), by its own call.
func (s *server) follow(c *gin.Context, kind string, e *cache.Entry, err error, fetch func() ([]byte, *gateway.Call, error)) {
	if err != nil {
		body, call, err := fetch()
		s.reply(c, body, call, err)
		return
	}
	s.cache.Saved(kind, e.CostUSD)
	s.hit(c, cache.Free(e.Body))
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
func (s *server) hit(c *gin.Context, body []byte) {
	c.Header("X-Cache", "HIT")
	c.Header("X-Cost-USD", "0")
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}
