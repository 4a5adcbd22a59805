package gateway

import (
	"time"

	"aiservice/service/internal/cost"
	"aiservice/service/internal/wire"
)

// Call is what one gateway call produced: who served it, what it consumed and cost, how long
// the upstreams took, how many attempts it made and how it failed. The gateway returns one for
// every call, failed or not; a stream's is complete once the stream is closed. The API layer
// records metrics, SLO events, cost and the access log from it, in one place.
type Call struct {
	// Spend is the model and provider that served the call (the primary or a fallback; the
	// one being tried while none did), its token usage (nil for images and until a route
	// answered) and its cost.
	cost.Spend
	Served        bool          // an upstream answered
	UpstreamModel string        // the model name the upstream was sent
	Upstream      time.Duration // time spent waiting on upstreams, a stream's body included
	Attempts      int           // upstream attempts, retries and fallbacks included
	Failure       Failure       // the error, classified once; Failure.Err is nil on success

	load *load // the deployment that served: its tokens-per-minute budget is charged on pricing
}

// Billable reports whether the call has a spend to record: an upstream answered, and the call
// succeeded or its usage is known (a stream cut short, an agent run that failed at a later step).
func (c *Call) Billable() bool { return c.Served && (c.Failure.Err == nil || c.Usage != nil) }

// Add folds another call into c (an agent run is one client request of several calls): usage,
// cost, upstream time and attempts add up; the model and provider are the last served call's.
func (c *Call) Add(o *Call) {
	if o == nil {
		return
	}
	c.Upstream += o.Upstream
	c.Attempts += o.Attempts
	c.Failure = o.Failure
	if !o.Served || o.Usage == nil {
		return
	}
	c.Provider, c.Model, c.UpstreamModel = o.Provider, o.Model, o.UpstreamModel
	if c.Usage == nil {
		u := *o.Usage
		c.Usage, c.CostUSD, c.Priced, c.Served = &u, o.CostUSD, o.Priced, true
		return
	}
	c.Usage.PromptTokens += o.Usage.PromptTokens
	c.Usage.CompletionTokens += o.Usage.CompletionTokens
	c.Usage.TotalTokens += o.Usage.TotalTokens
	c.Usage.Estimated = c.Usage.Estimated || o.Usage.Estimated
	c.CostUSD += o.CostUSD
	c.Priced = c.Priced && o.Priced
}

// price sets the call's usage and prices it for the model that served it.
func (c *Call) price(prices *cost.Table, u *wire.Usage) {
	c.Usage = u
	c.CostUSD, c.Priced = prices.Chat(c.Model, *u)
	c.load.spend(u.TotalTokens)
}
