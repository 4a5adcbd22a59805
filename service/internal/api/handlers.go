package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

func (s *server) chat(c *gin.Context) {
	req, ok := s.decodeChat(c)
	if !ok {
		return
	}
	if req.Stream {
		s.fail(c, apperr.Invalid("stream", "This route does not stream; use POST /v1/chat/stream (or /v1/chat/completions with \"stream\": true)."))
		return
	}
	s.complete(c, req)
}

func (s *server) chatStream(c *gin.Context) {
	req, ok := s.decodeChat(c)
	if !ok {
		return
	}
	s.stream(c, req, true)
}

// completions is OpenAI's route: streaming or not by `stream`, usage in the stream only when
// stream_options.include_usage asks for it. The route's deadline is the stream one; the body is
// read under the chat deadline either way, and a completion that does not stream keeps it.
func (s *server) completions(c *gin.Context) {
	wide := c.Request
	cancel := narrow(c, s.cfg.Timeouts.Chat.D())
	defer cancel()
	req, ok := s.decodeChat(c)
	if !ok {
		return
	}
	if req.Stream {
		c.Request = wide
		s.stream(c, req, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	s.complete(c, req)
}

func (s *server) decodeChat(c *gin.Context) (*wire.ChatRequest, bool) {
	var req wire.ChatRequest
	raw, err := readJSON(c.Writer, c.Request, &req)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	req.Raw = raw
	if err := validateChat(&req, s.cfg.DefaultModel); err != nil {
		s.fail(c, err)
		return nil, false
	}
	return &req, true
}

func (s *server) complete(c *gin.Context, req *wire.ChatRequest) {
	if !s.admit(c, func() limits.Estimate { return s.chatEstimate(req) }) {
		return
	}
	s.answer(c, cache.KindChat, req.Model, req.Raw, func() ([]byte, *gateway.Call, error) {
		return s.gw.ChatRaw(c.Request.Context(), req)
	}, nil)
}

// costHeader sends X-Cost-USD when the request was priced.
func costHeader(c *gin.Context, priced bool, usd float64) {
	if priced {
		c.Header("X-Cost-USD", strconv.FormatFloat(usd, 'f', -1, 64))
	}
}

// stream relays a chat stream as SSE, flushing each chunk as it arrives. The response is held
// until the first chunk is in hand, so every failure before it (connection, status, the
// time-to-first-token limit) is still an ordinary JSON error with its own status. After the
// first byte, an `event: error` carrying the same error object ends the stream, so a client
// never mistakes a cut stream for a finished one.
func (s *server) stream(c *gin.Context, req *wire.ChatRequest, includeUsage bool) {
	start := time.Now()
	if !s.admit(c, func() limits.Estimate { return s.chatEstimate(req) }) {
		return
	}
	ck := s.cacheFor(c, cache.KindStream, req.Model, req.Raw)
	s.streamed(c, ck, replaying{includeUsage: includeUsage}, func(ck cached) *cache.Entry {
		st, call, err := s.gw.ChatStream(c.Request.Context(), req)
		return s.relayStream(c, start, st, call, err, includeUsage, ck)
	})
}

// relayStream answers with an opened stream (or its failure to open): a JSON error until its
// first chunk, then SSE — chat chunks, or on the Messages surface Anthropic's named events. It
// returns the recording of a stream that ran to its end when the cache asks for one (ck):
// never of a cut one. start is when the handler began.
func (s *server) relayStream(c *gin.Context, start time.Time, st *gateway.Stream, call *gateway.Call, err error, includeUsage bool, ck cached) *cache.Entry {
	ex := exchangeOf(c)
	ex.call = call
	if err != nil {
		s.fail(c, err)
		return nil
	}
	defer st.Close()
	first, err := st.Next()
	if err != nil {
		s.fail(c, err)
		return nil
	}
	r := relay{st: st, includeUsage: includeUsage, named: messagesSurface(c), ex: ex, start: start, budget: ex.ticket, record: s.recorder(ck)}
	s.beginSSE(c, ck, call.Model, &r)
	if err := r.run(first); err != nil {
		s.endStream(c, r.out, err)
		return nil
	}
	if !r.done {
		return nil // the client left: the stream was cut
	}
	return r.record.entry(call)
}

// beginSSE starts the answer of a stream whose first events are in hand (X-Cache: MISS when it
// is cacheable) and gives the relay its writer and its timing series.
func (s *server) beginSSE(c *gin.Context, ck cached, model string, r *relay) {
	if ck.key != "" {
		c.Header("X-Cache", "MISS")
	}
	startSSE(c)
	r.out = sse.NewWriter(c.Writer)
	r.ttft, r.gap = s.m.ttft.WithLabelValues(routeLabel(c.FullPath()), model), s.m.route(c.FullPath()).interChunk.Get()
}

// startSSE sends a stream's headers.
func startSSE(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	c.Status(http.StatusOK)
	exchangeOf(c).streamed = true
}

// endStream closes a stream cut by an error with an `event: error` carrying the error object
// (nothing when the client is gone).
func (s *server) endStream(c *gin.Context, out *sse.Writer, err error) {
	e := s.streamCut(c, err)
	if e == nil {
		return
	}
	_, b := errorResponse(c, e)
	data, _ := json.Marshal(b)
	_ = out.Last("error", data)
}

// streamCut classifies, records and logs the failure that cut a stream after its first byte;
// nil when the client left, as there is no one to tell.
func (s *server) streamCut(c *gin.Context, err error) *apperr.Error {
	e := gateway.Classify(c.Request.Context(), err).Err
	exchangeOf(c).failure = e
	if e.Kind == apperr.Canceled {
		return nil
	}
	s.log.WarnContext(c.Request.Context(), "stream ended with an error", "error_type", e.Kind.String(), "error", e.Error())
	return e
}

// relay writes a stream's chunks as they come, timing the first and the gaps between them.
type relay struct {
	out          *sse.Writer
	st           *gateway.Stream
	includeUsage bool
	named        bool // Anthropic's events: message_stop ends the stream, no [DONE]
	ex           *exchange
	ttft, gap    prometheus.Observer
	start, last  time.Time      // start: when the handler began, which time to first token counts from
	budget       *limits.Ticket // a key's budget: the stream is cut at the chunk that crosses it
	record       *recorder      // non-nil: the chunks are kept for the cache
	done         bool           // the stream ran to its end
}

// run relays from the first chunk to the end: nil after the end or when the client left
// (Close records what was produced), else the upstream's failure.
func (r *relay) run(ev gateway.Event) error {
	for {
		r.record.add(ev)
		if !ev.UsageOnly || r.includeUsage {
			write := r.out.Event
			switch {
			case r.named && ev.Name == "message_stop":
				// Held like [DONE]: Anthropic's final event goes out unflushed, once the request
				// has been fully recorded.
				write = r.out.Last
			case r.st.Ready():
				write = r.out.EventLater // the next chunk is here: one write for both
			}
			if err := write(ev.Name, ev.Data); err != nil {
				return nil
			}
			r.sent(time.Now())
		}
		if r.budget.Over(r.st.Produced()) {
			return limits.ErrStreamOverBudget
		}
		var err error
		if ev, err = r.st.Next(); errors.Is(err, io.EOF) {
			if !r.named {
				// The final event goes out unflushed, once the request has been fully recorded.
				_ = r.out.Last("", sse.Done)
			}
			r.done = true
			return nil
		} else if err != nil {
			return err
		}
	}
}

// sent times a chunk that went out.
func (r *relay) sent(now time.Time) {
	if r.last.IsZero() {
		r.ex.firstByte = now.Sub(r.start)
		r.ttft.Observe(r.ex.firstByte.Seconds())
	} else {
		r.gap.Observe(now.Sub(r.last).Seconds())
	}
	r.last = now
}

func (s *server) images(c *gin.Context) {
	var req wire.ImageRequest
	if err := decodeJSON(c.Writer, c.Request, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := validateImages(&req, s.imageModel); err != nil {
		s.fail(c, err)
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if !s.admit(c, func() limits.Estimate { return s.policy.Images(req.Model, req.Size, req.Quality, n) }) {
		return
	}
	resp, call, err := s.gw.Images(c.Request.Context(), &req)
	exchangeOf(c).call = call
	if err != nil {
		s.fail(c, err)
		return
	}
	costHeader(c, call.Priced, call.CostUSD)
	c.JSON(http.StatusOK, resp)
}

func (s *server) listAgents(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": s.agents.List()})
}

func (s *server) getAgent(c *gin.Context) {
	a, err := s.agents.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (s *server) runAgent(c *gin.Context) {
	id := c.Param("id")
	info, err := s.agents.Get(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req runRequest
	if err := decodeJSON(c.Writer, c.Request, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := validateRun(&req); err != nil {
		s.fail(c, err)
		return
	}
	if !s.admit(c, func() limits.Estimate { return s.policy.Chat(info.Model, tokens.Count(*req.Input), 0, 1) }) {
		return
	}
	run, err := s.agents.Run(c.Request.Context(), id, *req.Input)
	if run != nil {
		exchangeOf(c).call = &run.Call
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	costHeader(c, run.Call.Priced, run.Call.CostUSD)
	c.JSON(http.StatusOK, run)
}

func (s *server) models(c *gin.Context) {
	list := wire.ModelList{Object: "list", Data: make([]wire.Model, 0, len(s.cfg.Models))}
	for _, m := range s.cfg.Models {
		list.Data = append(list.Data, wire.Model{ID: m.Name, Object: "model", Created: 1700000000, OwnedBy: m.Owner()})
	}
	c.JSON(http.StatusOK, list)
}

func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *server) readyz(c *gin.Context) {
	if !s.ready.Load() {
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "draining"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}
