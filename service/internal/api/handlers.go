package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/sse"
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
// stream_options.include_usage asks for it.
func (s *server) completions(c *gin.Context) {
	req, ok := s.decodeChat(c)
	if !ok {
		return
	}
	if req.Stream {
		s.stream(c, req, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	defer narrow(c, s.cfg.Timeouts.Chat.D())()
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
	body, res, err := s.gw.ChatRaw(c.Request.Context(), info(c).route, req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if res.Priced {
		c.Header("X-Cost-USD", strconv.FormatFloat(res.CostUSD, 'f', -1, 64))
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// stream relays a chat stream as SSE, flushing each chunk as it arrives. The response is held
// until the first chunk is in hand, so every failure before it (connection, status, the
// time-to-first-token limit) is still an ordinary JSON error with its own status. After the
// first byte, an `event: error` carrying the same error object ends the stream, so a client
// never mistakes a cut stream for a finished one.
func (s *server) stream(c *gin.Context, req *wire.ChatRequest, includeUsage bool) {
	ri := info(c)
	start := time.Now()
	ctx := c.Request.Context()
	st, err := s.gw.ChatStream(ctx, ri.route, req)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer st.Close()
	first, err := st.Next()
	if err != nil {
		s.fail(c, err)
		return
	}

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	c.Status(http.StatusOK)
	ri.streamed = true

	ttft := s.m.ttft.WithLabelValues(ri.route, st.Result.Model)
	gap := s.m.route(ri.route).interChunk.Get()
	out := sse.NewWriter(c.Writer)
	var last time.Time
	for ev := first; ; {
		if !ev.UsageOnly || includeUsage {
			write := out.Data
			if st.Ready() {
				write = out.DataLater // the next chunk is here: one write for both
			}
			if err := write(ev.Data); err != nil {
				return // the client is gone; Close records what was produced
			}
			now := time.Now()
			if last.IsZero() {
				ri.firstByte = now.Sub(start)
				ttft.Observe(ri.firstByte.Seconds())
			} else {
				gap.Observe(now.Sub(last).Seconds())
			}
			last = now
		}
		ev, err = st.Next()
		// The final event goes out unflushed, once the request has been fully recorded.
		if errors.Is(err, io.EOF) {
			_ = out.Last("", sse.Done)
			return
		}
		if err != nil {
			e := resolve(ctx, err)
			if e.Kind == apperr.Canceled {
				return
			}
			s.m.count(ri.route, e)
			ri.endedWith = e.Kind.Status()
			s.log.WarnContext(ctx, "stream ended with an error", "error_type", e.Kind.Type(), "error", e.Error())
			data, _ := json.Marshal(body(e))
			_ = out.Last("error", data)
			return
		}
	}
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
	resp, res, err := s.gw.Images(c.Request.Context(), info(c).route, &req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if res.Priced {
		c.Header("X-Cost-USD", strconv.FormatFloat(res.CostUSD, 'f', -1, 64))
	}
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
	if _, err := s.agents.Get(id); err != nil {
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
	run, err := s.agents.Run(c.Request.Context(), info(c).route, id, *req.Input)
	if err != nil {
		s.fail(c, err)
		return
	}
	if run.Usage.CostUSD != nil {
		c.Header("X-Cost-USD", strconv.FormatFloat(*run.Usage.CostUSD, 'f', -1, 64))
	}
	c.JSON(http.StatusOK, run)
}

func (s *server) models(c *gin.Context) {
	list := wire.ModelList{Object: "list", Data: make([]wire.Model, 0, len(s.cfg.Models))}
	for _, m := range s.cfg.Models {
		list.Data = append(list.Data, wire.Model{ID: m.Name, Object: "model", Created: 1700000000, OwnedBy: m.Provider})
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
