package api

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/gateway"
	"aiservice/service/internal/keys"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/wire"
)

// keyOf is the request's authenticated key (nil when the service needs none). Like the
// exchange it lives on the gin.Context, not in the request's context.Context.
func keyOf(c *gin.Context) *keys.Key {
	if v, ok := c.Get(keyKey); ok {
		return v.(*keys.Key)
	}
	return nil
}

const keyKey = "aiservice.key"

// admit is the one call every surface makes before it calls the gateway: the key must be
// allowed the model and, when it has limits, the estimate is reserved. A limited key gets
// the x-ratelimit-* headers on every answer, the refusal included. false: the answer is
// written. The reservation is settled in record, from the request's Call.
//
// estimate is called only for a key: it counts the prompt's tokens and prices them, work
// (~0.8 % of a realistic completion's CPU) that a gateway without keys, the default, would
// throw away.
func (s *server) admit(c *gin.Context, estimate func() limits.Estimate) bool {
	k := keyOf(c)
	if k == nil {
		return true
	}
	t, err := s.policy.Admit(c.Request.Context(), k, estimate())
	if t != nil {
		rateHeaders(c, t)
	}
	if err != nil {
		s.fail(c, err)
		return false
	}
	exchangeOf(c).ticket = t
	return true
}

// rateHeaders are OpenAI's x-ratelimit-* headers, for the limits the key has.
func rateHeaders(c *gin.Context, t *limits.Ticket) {
	k, v, h := t.Key(), t.Verdict(), c.Writer.Header()
	if k.RPM > 0 {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(k.RPM))
		h.Set("x-ratelimit-remaining-requests", strconv.FormatInt(v.RemainingRequests, 10))
		h.Set("x-ratelimit-reset-requests", resetText(v.ResetRequests))
	}
	if k.TPM > 0 {
		h.Set("x-ratelimit-limit-tokens", strconv.Itoa(k.TPM))
		h.Set("x-ratelimit-remaining-tokens", strconv.FormatInt(v.RemainingTokens, 10))
		h.Set("x-ratelimit-reset-tokens", resetText(v.ResetTokens))
	}
}

// resetText writes a duration as OpenAI does ("1s", "6m0s", "20ms").
func resetText(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// chatEstimate is a chat request's estimate: its prompt and max output per choice.
func (s *server) chatEstimate(req *wire.ChatRequest) limits.Estimate {
	n := 1
	if req.N != nil {
		n = *req.N
	}
	return s.policy.Chat(req.Model, gateway.PromptTokens(req), req.MaxOutputTokens(), n)
}

// messagesEstimate is a Messages request's estimate: its prompt and max_tokens (required).
func (s *server) messagesEstimate(req *wire.MessagesRequest) limits.Estimate {
	return s.policy.Chat(req.Model, gateway.MessagesPromptTokens(req), orZero(req.MaxTokens), 1)
}

// responsesEstimate is a Responses request's estimate: its input and max_output_tokens.
func (s *server) responsesEstimate(req *wire.ResponsesRequest) limits.Estimate {
	return s.policy.Chat(req.Model, gateway.ResponsesInputTokens(req), orZero(req.MaxOutputTokens), 1)
}

// orZero is *p, or 0 (a limit not given: the policy's cap applies).
func orZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// settle turns the request's reservation into what its Call used.
func (s *server) settle(c *gin.Context, ex *exchange) {
	if ex.ticket == nil {
		return
	}
	tok, usd := 0, 0.0
	if call := ex.call; call != nil && call.Billable() {
		usd = call.CostUSD
		if call.Usage != nil {
			tok = call.Usage.TotalTokens
		}
	}
	ex.ticket.Settle(c.Request.Context(), tok, usd)
}
