package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tidwall/gjson"

	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/wire"
)

// createResponse is OpenAI's POST /v1/responses: streaming by `stream`. As for completions, the
// route's deadline is the stream one and an answer that does not stream keeps the chat one.
func (s *server) createResponse(c *gin.Context) {
	wide := c.Request
	cancel := narrow(c, s.cfg.Timeouts.Chat.D())
	defer cancel()
	var req wire.ResponsesRequest
	raw, err := readJSON(c.Writer, c.Request, &req)
	if err == nil {
		req.Raw = raw
		err = validateResponses(&req, s.cfg.DefaultModel)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.admit(c, func() limits.Estimate { return s.responsesEstimate(&req) }) {
		return
	}
	if req.Stream {
		c.Request = wide
		s.streamed(c, s.cacheFor(c, cache.KindResponsesStream, req.Model, req.Raw),
			replaying{named: true, renew: s.reissue(c, &req)}, func(ck cached) *cache.Entry { return s.streamResponse(c, &req, ck) })
		return
	}
	s.answer(c, cache.KindResponses, req.Model, req.Raw, func() ([]byte, *gateway.Call, error) {
		return s.responses.Create(c.Request.Context(), &req)
	}, s.reissue(c, &req))
}

// reissue replays a cached Responses answer under a fresh id (gateway.Reissue); the old id is
// the object's, or that of the first event that carries the response.
func (s *server) reissue(c *gin.Context, req *wire.ResponsesRequest) renewal {
	return func(e *cache.Entry) (*gateway.Reissue, error) {
		old := gjson.GetBytes(e.Body, "id").String()
		for i := 0; old == "" && i < len(e.Events); i++ {
			old = gjson.GetBytes(e.Events[i].Data, "response.id").String()
		}
		return s.responses.Reissue(c.Request.Context(), req, old)
	}
}

// streamResponse relays a Responses stream as typed SSE events. As for chat, the response is
// held until the first events are in hand, so a failure before them is an ordinary JSON error;
// after them, a failure ends the stream with `error` and `response.failed`. It returns the
// recording of a stream that ran to its end when the cache asks for one (ck).
func (s *server) streamResponse(c *gin.Context, req *wire.ResponsesRequest, ck cached) *cache.Entry {
	ex := exchangeOf(c)
	r := relay{ex: ex, start: time.Now(), record: s.recorder(ck)}
	st, call, err := s.responses.Stream(c.Request.Context(), req)
	ex.call = call
	if err != nil {
		s.fail(c, err)
		return nil
	}
	defer st.Close()
	events, err := st.Next()
	if err != nil {
		s.fail(c, err)
		return nil
	}
	s.beginSSE(c, ck, call.Model, &r)
	for ; err == nil; events, err = st.Next() {
		if writeEvents(r.out, events) != nil {
			return nil
		}
		for _, ev := range events {
			r.record.add(ev)
		}
		r.sent(time.Now())
	}
	if errors.Is(err, io.EOF) {
		return r.record.entry(call)
	}
	if e := s.streamCut(c, err); e != nil {
		_ = writeEvents(r.out, st.Fail(e))
	}
	return nil
}

// writeEvents writes typed events, each named by its type. A terminal event is held like
// [DONE]: it goes out unflushed, once the request has been fully recorded.
func writeEvents(out *sse.Writer, events []gateway.Event) error {
	for _, ev := range events {
		write := out.Event
		if wire.TerminalResponseEvent(ev.Name) {
			write = out.Last
		}
		if err := write(ev.Name, ev.Data); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) getResponse(c *gin.Context) {
	body, err := s.responses.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func (s *server) deleteResponse(c *gin.Context) {
	d, err := s.responses.Delete(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *server) responseInputItems(c *gin.Context) {
	asc, limit, err := itemsPage(c.Query("order"), c.Query("limit"))
	if err != nil {
		s.fail(c, err)
		return
	}
	list, err := s.responses.InputItems(c.Request.Context(), c.Param("id"), asc, limit, c.Query("after"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list)
}
