package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
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
		s.streamResponse(c, &req)
		return
	}
	body, call, err := s.responses.Create(c.Request.Context(), &req)
	s.reply(c, body, call, err)
}

// streamResponse relays a Responses stream as typed SSE events. As for chat, the response is
// held until the first events are in hand, so a failure before them is an ordinary JSON error;
// after them, a failure ends the stream with `error` and `response.failed`.
func (s *server) streamResponse(c *gin.Context, req *wire.ResponsesRequest) {
	ex := exchangeOf(c)
	r := relay{ex: ex, start: time.Now()}
	st, call, err := s.responses.Stream(c.Request.Context(), req)
	ex.call = call
	if err != nil {
		s.fail(c, err)
		return
	}
	defer st.Close()
	events, err := st.Next()
	if err != nil {
		s.fail(c, err)
		return
	}
	startSSE(c)
	r.out, r.ttft, r.gap = sse.NewWriter(c.Writer), s.m.ttft.WithLabelValues(routeLabel(c.FullPath()), call.Model), s.m.route(c.FullPath()).interChunk.Get()
	for ; err == nil; events, err = st.Next() {
		if writeEvents(r.out, events) != nil {
			return
		}
		r.sent(time.Now())
	}
	if e := gateway.Classify(c.Request.Context(), err).Err; !errors.Is(err, io.EOF) && e.Kind != apperr.Canceled {
		ex.failure = e
		s.log.WarnContext(c.Request.Context(), "stream ended with an error", "error_type", e.Kind.String(), "error", e.Error())
		_ = writeEvents(r.out, st.Fail(e))
	}
}

// writeEvents writes typed events, each named by its type.
func writeEvents(out *sse.Writer, events []gateway.Event) error {
	for _, ev := range events {
		if err := out.Event(ev.Name, ev.Data); err != nil {
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
