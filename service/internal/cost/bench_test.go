package cost

import (
	"testing"

	"aiservice/service/internal/config"
	"aiservice/service/internal/wire"
)

// BenchmarkChatCost is the cost computation done once per request.
func BenchmarkChatCost(b *testing.B) {
	cfg, err := config.Parse(nil)
	if err != nil {
		b.Fatal(err)
	}
	t := NewTable(cfg.Prices)
	u := wire.Usage{PromptTokens: 1200, CompletionTokens: 350, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 400}}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := t.Chat("gpt-4o-mini", u); !ok {
			b.Fatal("unpriced")
		}
	}
}
