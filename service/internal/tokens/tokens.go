// Package tokens estimates token counts the way OpenAI's guidance does for English text
// (about four characters a token). The simulator reports these counts and the gateway uses
// the same estimate when an upstream stream carries no usage, so the two agree.
package tokens

import "unicode/utf8"

// Count estimates the tokens of a text.
func Count(s string) int {
	n := utf8.RuneCountInString(s)
	return (n + 3) / 4
}

// PerMessage is the fixed overhead OpenAI's chat format adds per message.
const PerMessage = 4

// Prompt estimates the input tokens of a list of message texts.
func Prompt(texts []string) int {
	total := 3 // every reply is primed with <|start|>assistant<|message|>
	for _, t := range texts {
		total += PerMessage + Count(t)
	}
	return total
}
