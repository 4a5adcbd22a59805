package reliability

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
	"aiservice/harness/otlp"
)

// Secrets: the client's API key and the upstream provider's key never appear anywhere an
// operator or a client can read — the service's logs (every line, at debug level), its spans
// (an OTLP receiver decodes every export), /metrics, `aiservice config`, or any response header
// or body, successful or failed (401s, 502s, 504s, broken streams). The upstream's
// Authorization header is never passed back, and prompt text is not logged or recorded in
// spans by default.
const (
	clientKey   = "sk-client-Q7ZK3-distinctive-9b41c"
	upstreamKey = "sk-upstream-SECRET-W4X2-8d0e"
	wrongKey    = "sk-client-WRONG-H5V7-3c2a"
	promptMark  = "canary-prompt-Z9Q-purple-elephant"
)

// secretNeedles are the strings that must appear nowhere: the keys, their distinctive cores
// (a masked or truncated form still gives them away) and the encodings a leak might take.
var secretNeedles = []string{
	clientKey, "Q7ZK3-distinctive-9b41c",
	upstreamKey, "SECRET-W4X2-8d0e",
	wrongKey, "WRONG-H5V7-3c2a",
	base64.StdEncoding.EncodeToString([]byte(clientKey)), base64.StdEncoding.EncodeToString([]byte(upstreamKey)),
}

// recorder keeps every response the client received: headers and the bytes of the body the
// client read (streams included).
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []*recorded
}

type recorded struct {
	what   string
	status int
	header http.Header
	body   *bytes.Buffer
}

type teeBody struct {
	io.Reader
	io.Closer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rec := &recorded{what: req.Method + " " + req.URL.Path, status: resp.StatusCode, header: resp.Header.Clone(), body: &bytes.Buffer{}}
	resp.Body = teeBody{io.TeeReader(resp.Body, rec.body), resp.Body}
	r.mu.Lock()
	r.seen = append(r.seen, rec)
	r.mu.Unlock()
	return resp, nil
}

func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	recv := &otlp.Receiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()

	// The simulator requires the upstream key, so every successful call proves the service sent it.
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", upstreamKey}})
	simc := launch.SimControl{URL: sim.URL}
	cfg := fmt.Sprintf(`
providers:
  - {name: upstream, type: openai, base_url: %s/v1, api_key: %s}
models:
  - {name: gpt-4o-mini, provider: upstream}
  - {name: gpt-4o, provider: upstream, fallbacks: [gpt-4o-mini]}
  - {name: gpt-image-1, provider: upstream, kind: image}
timeouts: {chat: 1s}
resilience: {max_retries: 1, backoff_base: 1ms, backoff_max: 2ms, breaker_failures: 100}
`, sim.URL, upstreamKey)
	svc, err := launch.StartService(ctx, launch.Options{Config: cfg,
		Args: []string{"--api-keys", "another-key," + clientKey, "--log-level", "debug", "--otlp-endpoint", collector.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Kill()

	rec := &recorder{base: &http.Transport{}}
	c := client.New(svc.URL)
	c.APIKey = clientKey
	c.HTTP = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	anon := client.New(svc.URL)
	anon.HTTP = c.HTTP

	setSim := func(b launch.SimBehaviour) {
		t.Helper()
		if err := simc.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if err := simc.SetBehaviour(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus := func(what string, err error, status int) {
		t.Helper()
		var ae *client.APIError
		switch {
		case status == 200 && err != nil:
			t.Errorf("%s: %v", what, err)
		case status != 200 && (!errors.As(err, &ae) || ae.Status != status):
			t.Errorf("%s: got %v, want status %d", what, err, status)
		}
	}
	prompt := "Please keep this private: " + promptMark

	// Successful calls of every kind, carrying the prompt.
	_, _, err = c.Chat(ctx, userChat(prompt))
	wantStatus("chat", err, 200)
	if st, err := simc.Stats(ctx); err != nil || !st.LastAuthorized {
		t.Fatalf("the simulator did not see the upstream key (stats %+v, %v): the test would prove nothing", st, err)
	}
	if st, err := c.ChatStream(ctx, userChat(prompt)); err != nil {
		t.Errorf("stream: %v", err)
	} else if evs, err := st.Collect(); err != nil || len(evs) == 0 || !evs[len(evs)-1].Done {
		t.Errorf("stream did not finish: %v", err)
	}
	streamReq := userChat(prompt)
	streamReq.Stream, streamReq.StreamOptions = true, &client.StreamOptions{IncludeUsage: true}
	if st, err := c.OpenStream(ctx, "/v1/chat/completions", streamReq); err != nil {
		t.Errorf("completions stream: %v", err)
	} else if _, err := st.Collect(); err != nil {
		t.Errorf("completions stream: %v", err)
	}
	_, _, err = c.Images(ctx, client.ImageRequest{Prompt: prompt, Size: "256x256"})
	wantStatus("images", err, 200)
	_, _, err = c.RunAgent(ctx, "calculator", prompt+" What is 3 * 4?")
	wantStatus("agent run", err, 200)
	_, _, err = c.Models(ctx)
	wantStatus("models", err, 200)
	_, _, err = c.Agents(ctx)
	wantStatus("agents", err, 200)

	// The client's key refused: wrong, missing, in the wrong scheme, and the keys in a query.
	bad := client.New(svc.URL)
	bad.HTTP = c.HTTP
	bad.APIKey = wrongKey
	_, _, err = bad.Chat(ctx, userChat(prompt))
	wantStatus("wrong key", err, 401)
	_, _, err = anon.Chat(ctx, userChat(prompt))
	wantStatus("no key", err, 401)
	for _, h := range []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(clientKey)), "Token " + clientKey, "Bearer " + upstreamKey} {
		odd := client.New(svc.URL)
		odd.HTTP = c.HTTP
		odd.Header.Set("Authorization", h)
		_, _, err = odd.Chat(ctx, userChat(prompt))
		wantStatus("Authorization: "+strings.Fields(h)[0], err, 401)
	}
	if resp, err := anon.Do(ctx, http.MethodGet, "/v1/nope?api_key="+clientKey+"&key="+upstreamKey, "", nil); err != nil || resp.Status != 404 {
		t.Errorf("unknown route with keys in the query: %v %v", resp, err)
	}

	// Upstream failures of every kind, with the client's key.
	for _, f := range []struct {
		name   string
		b      launch.SimBehaviour
		status int
	}{
		{"upstream 500 (retried, then 502)", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 500}, 502},
		{"upstream 401 (the gateway's credentials)", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 401}, 502},
		{"upstream 403", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 403}, 502},
		{"upstream 400", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 400}, 400},
		{"upstream 429", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 429}, 429},
		{"upstream 503", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 503}, 503},
		{"upstream drops the connection", launch.SimBehaviour{ErrorRate: 1, DropConnection: true}, 502},
		{"upstream slower than the deadline", launch.SimBehaviour{Latency: "1500ms"}, 504},
	} {
		setSim(f.b)
		_, _, err = c.Chat(ctx, userChat(prompt))
		wantStatus(f.name+": chat", err, f.status)
		if f.status == 504 {
			continue // only the chat route has a deadline short enough here
		}
		_, _, err = c.Images(ctx, client.ImageRequest{Prompt: prompt, Size: "256x256"})
		wantStatus(f.name+": images", err, f.status)
		_, err = c.ChatStream(ctx, userChat(prompt))
		wantStatus(f.name+": stream", err, f.status)
	}
	// A stream cut by the upstream mid-way ends with an error event.
	setSim(launch.SimBehaviour{CutStreamAfter: 2, Chunks: 6})
	if st, err := c.ChatStream(ctx, userChat(prompt)); err != nil {
		t.Errorf("cut stream: %v", err)
	} else if evs, _ := st.Collect(); len(evs) == 0 || evs[len(evs)-1].Error == nil {
		t.Errorf("a cut stream did not end with an error event")
	}
	setSim(launch.SimBehaviour{})

	// /metrics, read like any response.
	metrics, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// `aiservice config` prints the effective configuration: the keys are redacted.
	printed := printConfig(t, cfg, "--api-keys", clientKey)

	// Stop to flush the spans, then search everything.
	if code := svc.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	logs := svc.Logs()
	texts, spans := spanTexts(recv)
	if spans == 0 {
		t.Fatal("no spans were exported: the span search would prove nothing")
	}
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Error("no debug line in the log: debug logging was not on, the log search proves less")
	}

	withPrompt := append(append([]string(nil), secretNeedles...), promptMark)
	ls := &leakSearch{t: t}
	ls.logs(logs, withPrompt)
	ls.spans(recv, withPrompt)
	ls.find("/metrics", metrics, withPrompt)
	ls.find("aiservice config", printed, secretNeedles)
	n := ls.responses(rec, secretNeedles)
	t.Logf("searched %d log lines, %d spans (%d strings, %d raw exports), /metrics (%d bytes), aiservice config, %d responses: %d leaks",
		strings.Count(logs, "\n"), spans, len(texts), len(recv.Raw()), len(metrics), n, ls.leaks)
	if n < 30 {
		t.Errorf("only %d responses recorded: the search covered less than it claims", n)
	}
}

// leakSearch reports every place a needle appears.
type leakSearch struct {
	t     *testing.T
	leaks int
}

func (ls *leakSearch) find(where, text string, needles []string) {
	ls.t.Helper()
	for _, n := range needles {
		if i := strings.Index(text, n); i >= 0 {
			ls.leaks++
			switch {
			case ls.leaks <= 25:
				ls.t.Errorf("%s contains %q: %q", where, n, text[max(0, i-80):min(len(text), i+len(n)+80)])
			case ls.leaks == 26:
				ls.t.Errorf("more leaks: only the first 25 are shown")
			}
		}
	}
}

func (ls *leakSearch) logs(logs string, needles []string) {
	ls.t.Helper()
	for i, line := range strings.Split(logs, "\n") {
		ls.find(fmt.Sprintf("log line %d", i+1), line, needles)
	}
}

func (ls *leakSearch) spans(recv *otlp.Receiver, needles []string) {
	ls.t.Helper()
	texts, _ := spanTexts(recv)
	for _, st := range texts {
		ls.find("span "+st.where, st.text, needles)
	}
	for i, b := range recv.Raw() {
		ls.find(fmt.Sprintf("OTLP export %d (raw bytes)", i+1), string(b), needles)
	}
}

// responses searches every recorded response's headers and body, and returns how many there were.
func (ls *leakSearch) responses(rec *recorder, needles []string) int {
	ls.t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.seen {
		for name, values := range r.header {
			if strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Proxy-Authorization") {
				ls.leaks++
				ls.t.Errorf("%s (%d): response header %s passed to the client", r.what, r.status, name)
			}
			ls.find(fmt.Sprintf("%s (%d) header %s", r.what, r.status, name), strings.Join(values, "\n"), needles)
		}
		ls.find(fmt.Sprintf("%s (%d) body", r.what, r.status), r.body.String(), needles)
	}
	return len(rec.seen)
}

// printConfig runs `aiservice config` on a config and returns what it prints.
func printConfig(t *testing.T, cfg string, args ...string) string {
	t.Helper()
	bin, err := launch.Binary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append([]string{"config", "--config", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("aiservice config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "redacted") {
		t.Errorf("aiservice config shows no redacted field:\n%s", out)
	}
	return string(out)
}

// An upstream that echoes the credentials it received in its error messages (as misconfigured
// proxies and some providers do, fully or partly) must not get the gateway's key to clients,
// logs or spans: the gateway relays upstream 4xx messages and quotes 5xx ones, so it must scrub
// its own provider keys from whatever it passes on.
func TestUpstreamEchoedKeyIsScrubbed(t *testing.T) {
	const echoKey = "sk-echo-SECRET-P3M8-1f7a"
	needles := []string{echoKey, "SECRET-P3M8-1f7a"}
	var status sync.Map // the status the echoing upstream answers with
	status.Store("s", 400)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := status.Load("s")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st.(int))
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s.","type":"invalid_request_error"}}`, r.Header.Get("Authorization"))
	}))
	defer up.Close()
	recv := &otlp.Receiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	svc, err := launch.StartService(context.Background(), launch.Options{
		Config: fmt.Sprintf(`
providers:
  - {name: echo, type: openai, base_url: %s/v1, api_key: %s}
models:
  - {name: gpt-4o-mini, provider: echo}
  - {name: gpt-image-1, provider: echo, kind: image}
resilience: {max_retries: 0, breaker_failures: 100}
`, up.URL, echoKey),
		Args: []string{"--log-level", "debug", "--otlp-endpoint", collector.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Kill()
	rec := &recorder{base: &http.Transport{}}
	c := client.New(svc.URL)
	c.HTTP = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	ctx := context.Background()
	for _, st := range []int{400, 401, 404, 422, 500, 503} {
		status.Store("s", st)
		_, _, err := c.Chat(ctx, userChat("hi"))
		var ae *client.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("upstream %d: want an error, got %v", st, err)
		}
		_, err = c.ChatStream(ctx, userChat("hi"))
		if !errors.As(err, &ae) {
			t.Fatalf("upstream %d stream: want an error, got %v", st, err)
		}
		_, _, err = c.Images(ctx, client.ImageRequest{Prompt: "p", Size: "256x256"})
		if !errors.As(err, &ae) {
			t.Fatalf("upstream %d images: want an error, got %v", st, err)
		}
	}
	svc.Stop(10 * time.Second)
	ls := &leakSearch{t: t}
	n := ls.responses(rec, needles)
	ls.logs(svc.Logs(), needles)
	ls.spans(recv, needles)
	t.Logf("an upstream echoing its key: %d responses, logs and spans searched: %d leaks", n, ls.leaks)
}
