package api

import (
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
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
		ck := s.cacheFor(c, cache.KindMessagesStream, req.Model, req.Raw)
		s.streamed(c, ck, replaying{includeUsage: true, named: true}, func(ck cached) *cache.Entry {
			st, call, err := s.gw.MessagesStream(c.Request.Context(), req)
			return s.relayStream(c, start, st, call, err, true, ck)
		})
		return
	}
	s.answer(c, cache.KindMessages, req.Model, req.Raw, func() ([]byte, *gateway.Call, error) {
		return s.gw.Messages(c.Request.Context(), req)
	}, nil)
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
