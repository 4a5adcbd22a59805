package api

import (
	"strings"
	"testing"
)

// The agents deadline covers the whole /v1/agents group, reads included (issue 15 item 7).
func TestAgentRoutesShareTheAgentsDeadline(t *testing.T) {
	s := &server{}
	n := 0
	for _, rt := range s.routes(nil) {
		if strings.HasPrefix(rt.path, "/v1/agents") {
			n++
			if rt.group != groupAgents {
				t.Errorf("%s %s has deadline group %q, want %q", rt.method, rt.path, rt.group, groupAgents)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d agent routes, want 3", n)
	}
}
