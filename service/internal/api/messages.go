package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// messages is Anthropic's POST /v1/messages: a message, or its event stream by `stream`.
func (s *server) messages(c *gin.Context) {
	start := time.Now()
	req, ok := s.decodeMessages(c, false)
	if !ok {
		return
	}
	if req.Stream {
		st, call, err := s.gw.MessagesStream(c.Request.Context(), req)
		s.relayStream(c, start, st, call, err, true)
		return
	}
	body, call, err := s.gw.Messages(c.Request.Context(), req)
	exchangeOf(c).call = call
	if err != nil {
		s.fail(c, err)
		return
	}
	costHeader(c, call.Priced, call.CostUSD)
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// countTokens is Anthropic's POST /v1/messages/count_tokens.
func (s *server) countTokens(c *gin.Context) {
	req, ok := s.decodeMessages(c, true)
	if !ok {
		return
	}
	body, call, err := s.gw.CountTokens(c.Request.Context(), req)
	exchangeOf(c).call = call
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}
