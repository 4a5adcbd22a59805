package sim

import (
	"strings"

	"aiservice/service/internal/wire"
)

// maxTopLogprobs is OpenAI's bound on alternatives per token.
const maxTopLogprobs = 20

// logprobs gives each word of text (a token, with its leading space) a plausible log
// probability — negative, most near 0, a few less sure — and top alternatives from the
// vocabulary, each less likely than the one before and than the chosen token. Deterministic:
// the same text gets the same values.
func logprobs(text string, top int) []wire.Logprob {
	top = min(max(top, 0), maxTopLogprobs)
	out := []wire.Logprob{}
	for _, tok := range strings.SplitAfter(text, " ") {
		if tok == "" {
			continue
		}
		h := seed("logprob", tok)
		lp := -0.001 - float64(h%1000)/1000*float64(h%7+1)/4 // in (-2, 0)
		l := wire.Logprob{Token: tok, Logprob: lp, Bytes: byteValues(tok), TopLogprobs: []wire.TopLogprob{}}
		for i := range top {
			alt := tok
			if i > 0 {
				alt = words[(h>>8+uint64(i))%uint64(len(words))] + " "
			}
			l.TopLogprobs = append(l.TopLogprobs, wire.TopLogprob{Token: alt, Logprob: lp - float64(i)*0.75, Bytes: byteValues(alt)})
		}
		out = append(out, l)
	}
	return out
}

func byteValues(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

// withLogprobs adds the log probabilities a request asks for to a completion's choices.
func withLogprobs(req *wire.ChatRequest, resp *wire.ChatResponse) {
	want, top := req.WantsLogprobs()
	if !want {
		return
	}
	for i := range resp.Choices {
		resp.Choices[i].Logprobs = &wire.ChoiceLogprobs{Content: logprobs(resp.Choices[i].Message.Content.Text, top)}
	}
}
