package api

import (
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/limits"
)

// messages is Anthropic's POST /v1/messages: a message, or its event stream by `stream`.
func (s *server) messages(c *gin.Context) {
	start := time.Now()
	req, ok := s.decodeMessages(c, false)
	if !ok {
		return
	}
	if !s.admit(c, func() limits.Estimate { return s.messagesEstimate(req) }) {
		return
	}
	if req.Stream {
		st, call, err := s.gw.MessagesStream(c.Request.Context(), req)
		s.relayStream(c, start, st, call, err, true, cached{}) // the cache keeps chat streams only
		return
	}
	body, call, err := s.gw.Messages(c.Request.Context(), req)
	s.reply(c, body, call, err)
}

// countTokens is Anthropic's POST /v1/messages/count_tokens.
func (s *server) countTokens(c *gin.Context) {
	req, ok := s.decodeMessages(c, true)
	if !ok {
		return
	}
	body, call, err := s.gw.CountTokens(c.Request.Context(), req)
	s.reply(c, body, call, err) // never priced: no X-Cost-USD
}
