package limits

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"aiservice/harness/launch"
)

// TestSharedCache: with store.url the response cache is shared: an answer one replica stored
// is a HIT on another, at $0.
func TestSharedCache(t *testing.T) {
	r := launch.StartRedis(t, false)
	ps := replicas(t, 2, config(fmt.Sprintf("store: {url: %s, replicas: 2}\ncache: {default: shared}", r.URL())))
	for i, want := range []string{"MISS", "HIT"} {
		req, _ := http.NewRequest("POST", ps[i].URL+"/v1/chat", strings.NewReader(chatRequest))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rpmKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if got := resp.Header.Get("X-Cache"); resp.StatusCode != 200 || got != want {
			t.Fatalf("replica %d: %d X-Cache %q, want %q", i, resp.StatusCode, got, want)
		}
		if want == "HIT" && resp.Header.Get("X-Cost-USD") != "0" {
			t.Fatalf("a hit cost %s", resp.Header.Get("X-Cost-USD"))
		}
	}
}
