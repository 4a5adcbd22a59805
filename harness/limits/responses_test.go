package limits

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"aiservice/harness/launch"
)

// TestSharedResponses: with store.url the Responses API's stored responses live in the shared
// store: a response one replica created is read, continued and deleted through another.
func TestSharedResponses(t *testing.T) {
	r := launch.StartRedis(t, false)
	ps := replicas(t, 2, config(fmt.Sprintf("store: {url: %s, replicas: 2}", r.URL())))
	call := func(method, url, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rpmKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	status, first := call("POST", ps[0].URL+"/v1/responses", `{"model":"gpt-4o-mini","input":"Remember the number 42."}`)
	id, _ := first["id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("create on replica 0: %d %v", status, first)
	}
	if status, got := call("GET", ps[1].URL+"/v1/responses/"+id, ""); status != 200 || got["id"] != id {
		t.Fatalf("GET on replica 1: %d %v", status, got)
	}
	status, next := call("POST", ps[1].URL+"/v1/responses", fmt.Sprintf(`{"model":"gpt-4o-mini","input":"Which number?","previous_response_id":%q}`, id))
	if status != 200 || next["previous_response_id"] != id {
		t.Fatalf("continue on replica 1: %d %v", status, next)
	}
	if status, _ := call("DELETE", ps[1].URL+"/v1/responses/"+id, ""); status != 200 {
		t.Fatalf("DELETE on replica 1: %d", status)
	}
	if status, got := call("GET", ps[0].URL+"/v1/responses/"+id, ""); status != 404 {
		t.Fatalf("GET on replica 0 after the delete: %d %v, want 404", status, got)
	}
}
