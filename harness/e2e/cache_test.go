package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// TestOfficialSDKsReadCachedAnswers: with the response cache on, the official clients read a
// replayed answer as they read the original — a Responses object (created or streamed, on both
// upstream dialects) that can be retrieved and continued, with a fresh id where the gateway
// makes the ids; Anthropic's message and its event stream — and each replay says HIT at $0.
func TestOfficialSDKsReadCachedAnswers(t *testing.T) {
	const cached = "cache: {default: shared}\n"
	svc := launch.MustStartService(t, launch.Options{Config: launch.BothDialects + cached})
	anth := launch.MustStartService(t, launch.Options{Config: anthropicConfig + cached, Args: []string{"--api-keys", "sk-cache-e2e"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	oa := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for _, model := range launch.DialectModels {
		t.Run("responses/"+model, func(t *testing.T) {
			params := responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Cache this " + model)}}
			var first, again *responses.Response
			for i, dst := range []**responses.Response{&first, &again} {
				var resp *http.Response
				r, err := oa.Responses.New(ctx, params, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				*dst = r
				wantCache(t, resp, i)
			}
			// The gateway's ids are fresh on a replay; an upstream that speaks Responses holds its
			// own, and only it can continue them: its response is replayed as is.
			fresh := model != "gpt-4o-r"
			if (again.ID != first.ID) != fresh || again.OutputText() != first.OutputText() || again.Status != responses.ResponseStatusCompleted {
				t.Fatalf("replay %s %q, original %s %q", again.ID, again.OutputText(), first.ID, first.OutputText())
			}
			if got, err := oa.Responses.Get(ctx, again.ID, responses.ResponseGetParams{}); err != nil || got.OutputText() != first.OutputText() {
				t.Fatalf("Get of the replay: %+v, %v", got, err)
			}
			next, err := oa.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(again.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And then?")}})
			if err != nil || next.PreviousResponseID != again.ID {
				t.Fatalf("continuing the replay: %+v, %v", next, err)
			}

			var texts, ids [2]string
			for i := range 2 {
				var resp *http.Response
				stream := oa.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model,
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Stream this " + model)}}, option.WithResponseInto(&resp))
				for stream.Next() {
					if ev := stream.Current(); ev.Type == "response.completed" {
						r := ev.AsResponseCompleted().Response
						texts[i], ids[i] = r.OutputText(), r.ID
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				wantCache(t, resp, i)
			}
			if texts[0] == "" || texts[1] != texts[0] || (ids[1] != ids[0]) != fresh {
				t.Fatalf("streamed %q (%s), replayed %q (%s)", texts[0], ids[0], texts[1], ids[1])
			}
		})
	}
	t.Run("messages", func(t *testing.T) {
		// The second run of the SDK's checks is answered from the cache where its requests
		// are cacheable (not the tool-use turns): they hold of the replays as of the originals.
		for _, model := range []anthropic.Model{"claude-sonnet-4-5", "gpt-4o-mini"} {
			for range 2 {
				exerciseAnthropicSDK(t, anth.URL, "sk-cache-e2e", model)
			}
		}
		m := scrape(t, client.New(anth.URL))
		for _, kind := range []string{"messages", "messages_stream"} {
			// Each model's message, its stream and the answer after the tool result, replayed.
			if got := m[`cache_hits_total{kind="`+kind+`"}`]; got < 2 {
				t.Errorf("%s: %v hits", kind, got)
			}
		}
	})
}

// wantCache checks the i-th of two identical requests: a MISS, then a HIT at $0.
func wantCache(t *testing.T, resp *http.Response, i int) {
	t.Helper()
	want := [2]string{"MISS", "HIT"}[i]
	if got := resp.Header.Get("X-Cache"); got != want || i == 1 && resp.Header.Get("X-Cost-USD") != "0" {
		t.Fatalf("request %d: X-Cache %q (want %q), X-Cost-USD %q", i, got, want, resp.Header.Get("X-Cost-USD"))
	}
}
