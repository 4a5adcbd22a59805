package wire

import "strconv"

// ParseUsage reads a raw `usage` object the way json.Unmarshal into Usage would for what
// upstreams send (exact lower-case keys, integer counts, null as zero), without reflection: it
// runs on every answer and every usage chunk. ok is false when b is not an object or a count is
// not an integer.
func ParseUsage(b []byte) (u *Usage, ok bool) {
	var f [4]Span
	if ObjectFieldsInto(f[:], b, "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details") != nil {
		return nil, false
	}
	u = &Usage{}
	for i, dst := range []*int{&u.PromptTokens, &u.CompletionTokens, &u.TotalTokens} {
		if *dst, ok = intValue(b, f[i]); !ok {
			return nil, false
		}
	}
	if d := f[3]; d.Found() && b[d.Start] == '{' {
		var c [2]Span
		details := b[d.Start:d.End]
		if ObjectFieldsInto(c[:], details, "cached_tokens", "cache_write_tokens") != nil {
			return nil, false
		}
		u.PromptTokensDetails = &PromptTokensDetails{}
		if u.PromptTokensDetails.CachedTokens, ok = intValue(details, c[0]); !ok {
			return nil, false
		}
		if u.PromptTokensDetails.CacheWriteTokens, ok = intValue(details, c[1]); !ok {
			return nil, false
		}
	} else if d.Found() && string(b[d.Start:d.End]) != "null" {
		return nil, false
	}
	return u, true
}

// intValue reads an integer member: absent or null is 0.
func intValue(b []byte, s Span) (int, bool) {
	if !s.Found() || string(b[s.Start:s.End]) == "null" {
		return 0, true
	}
	n, err := strconv.Atoi(string(b[s.Start:s.End]))
	return n, err == nil
}
