package bdd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/client"
)

func chatOf(text string) client.ChatRequest {
	return client.ChatRequest{Messages: []client.Message{client.Text("user", text)}}
}

// send makes one typed client call, timed, and records its answer.
func (w *world) send(call func(context.Context, *client.Client) (*client.Response, error)) error {
	c, err := w.client()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx()
	defer cancel()
	start := time.Now()
	resp, err := call(ctx, c)
	return w.record(resp, err, start)
}

// chat sends a non-streaming chat request to /v1/chat or /v1/chat/completions.
func (w *world) chat(path string, req client.ChatRequest) error {
	return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
		switch path {
		case "/v1/chat":
			_, resp, err := c.Chat(ctx, req)
			return resp, err
		case "/v1/chat/completions":
			_, resp, err := c.ChatCompletions(ctx, req)
			return resp, err
		}
		return nil, fmt.Errorf("%s is not a chat route (/v1/chat or /v1/chat/completions)", path)
	})
}

// raw sends a request with a body as given (nil: none) and records the answer, whatever it is.
func (w *world) raw(method, path, contentType string, body []byte, withKey bool) error {
	c, err := w.client()
	if err != nil {
		return err
	}
	if !withKey {
		c.Header.Del("Authorization")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	start := time.Now()
	resp, err := c.Do(ctx, method, path, contentType, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	w.elapsed = time.Since(start)
	w.keep(resp)
	return nil
}

// rawChunked sends a body without Content-Length (chunked), so only the server's reading limit
// can refuse it, not the declared length.
func (w *world) rawChunked(method, path, contentType string, body []byte) error {
	p, err := w.service()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		return err
	}
	req.ContentLength = -1
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range w.header {
		req.Header[k] = v
	}
	if _, err := w.client(); err != nil {
		return err
	}
	start := time.Now()
	resp, err := w.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	w.elapsed = time.Since(start)
	w.keep(&client.Response{Status: resp.StatusCode, Header: resp.Header, Body: b})
	return nil
}

func (w *world) registerRequestSteps(sc *godog.ScenarioContext) {
	// Headers every request of the scenario carries.
	sc.Step(`^my requests carry the header "([^"]+)" with "([^"]*)"$`, func(name, value string) { w.setHeader(name, value) })
	sc.Step(`^my requests carry the Authorization header "([^"]*)"$`, func(v string) { w.setHeader("Authorization", v) })
	sc.Step(`^my requests carry the API key "([^"]+)"$`, func(k string) { w.setHeader("Authorization", "Bearer "+k) })
	sc.Step(`^my requests carry the request id "([^"]+)"$`, func(id string) { w.setHeader("X-Request-Id", id) })
	sc.Step(`^my requests carry the traceparent "([^"]+)"$`, func(tp string) { w.setHeader("Traceparent", tp) })

	// Chat.
	sc.Step(`^I send the chat message "([^"]*)"$`, func(text string) error {
		return w.chat("/v1/chat", chatOf(text))
	})
	sc.Step(`^I send the chat message "([^"]*)" to (/\S+)$`, func(text, path string) error {
		return w.chat(path, chatOf(text))
	})
	sc.Step(`^I send the chat message "([^"]*)" to the model "([^"]*)"$`, func(text, model string) error {
		req := chatOf(text)
		req.Model = model
		return w.chat("/v1/chat", req)
	})
	sc.Step(`^I send the chat message "([^"]*)" with a limit of (\d+) tokens$`, func(text string, n int) error {
		req := chatOf(text)
		req.MaxTokens = &n
		return w.chat("/v1/chat", req)
	})
	sc.Step(`^I send the chat message "([^"]*)" asking for a stream$`, func(text string) error {
		req := chatOf(text)
		req.Stream = true
		return w.chat("/v1/chat", req)
	})
	sc.Step(`^I send the conversation:$`, func(t *godog.Table) error {
		var req client.ChatRequest
		for _, r := range rows(t) {
			req.Messages = append(req.Messages, client.Text(r["role"], r["content"]))
		}
		if len(req.Messages) == 0 {
			return fmt.Errorf("the conversation table needs a header row (role | content) and messages")
		}
		return w.chat("/v1/chat", req)
	})
	sc.Step(`^I send (\d+) chat messages$`, func(n int) error {
		for i := 0; i < n; i++ {
			if err := w.chat("/v1/chat", chatOf(fmt.Sprintf("Message number %d", i+1))); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^I send (\d+) chat messages to the model "([^"]*)"$`, func(n int, model string) error {
		for i := 0; i < n; i++ {
			req := chatOf(fmt.Sprintf("Message number %d", i+1))
			req.Model = model
			if err := w.chat("/v1/chat", req); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^I send (\d+) chat messages at the same time$`, w.sendConcurrently)
	sc.Step(`^within (\S+) a chat message succeeds$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		return poll(d, func() error {
			time.Sleep(30 * time.Millisecond) // pace the attempts: this loop must stay a handful of requests
			if err := w.chat("/v1/chat", chatOf("Are you back?")); err != nil {
				return err
			}
			if w.resp.Status != http.StatusOK {
				return fmt.Errorf("status %d: %s", w.resp.Status, w.resp.Body)
			}
			return nil
		})
	})
	sc.Step(`^I keep sending chat messages until the upstream has received (\d+) chat requests$`, func(n int64) error {
		sim, err := w.simControl()
		if err != nil {
			return err
		}
		return poll(3*time.Second, func() error {
			time.Sleep(30 * time.Millisecond)
			if err := w.chat("/v1/chat", chatOf("Anyone there?")); err != nil {
				return err
			}
			ctx, cancel := reqCtx()
			defer cancel()
			st, err := sim.Stats(ctx)
			if err != nil {
				return err
			}
			if st.ChatRequests < n {
				return fmt.Errorf("the upstream received %d chat requests", st.ChatRequests)
			}
			return nil
		})
	})

	// Images.
	images := func(req client.ImageRequest) error {
		return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
			_, resp, err := c.Images(ctx, req)
			return resp, err
		})
	}
	sc.Step(`^I ask for an image of "([^"]*)"$`, func(prompt string) error {
		return images(client.ImageRequest{Prompt: prompt})
	})
	sc.Step(`^I ask for an image of "([^"]*)" from the model "([^"]*)"$`, func(prompt, model string) error {
		return images(client.ImageRequest{Prompt: prompt, Model: model})
	})
	sc.Step(`^I ask for an image of "([^"]*)" on (/\S+)$`, func(prompt, path string) error {
		return w.raw(http.MethodPost, path, "application/json", []byte(fmt.Sprintf(`{"prompt": %q}`, prompt)), true)
	})
	sc.Step(`^I ask for (\d+) images? of "([^"]*)" at size (\S+) as (base64|URLs?)$`, func(n int, prompt, size, format string) error {
		req := client.ImageRequest{Prompt: prompt, N: &n, Size: size, ResponseFormat: "b64_json"}
		if strings.HasPrefix(format, "URL") {
			req.ResponseFormat = "url"
		}
		return images(req)
	})
	sc.Step(`^I ask for (\d+) images? of "([^"]*)" at size (\S+) in (\S+) quality$`, func(n int, prompt, size, quality string) error {
		return images(client.ImageRequest{Prompt: prompt, N: &n, Size: size, Quality: quality})
	})

	// Agents and models.
	sc.Step(`^I list the agents$`, func() error {
		return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
			_, resp, err := c.Agents(ctx)
			return resp, err
		})
	})
	sc.Step(`^I look up the agent "([^"]*)"$`, func(id string) error {
		return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
			_, resp, err := c.Agent(ctx, id)
			return resp, err
		})
	})
	sc.Step(`^I ask the agent "([^"]*)" "([^"]*)"$`, func(id, input string) error {
		return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
			_, resp, err := c.RunAgent(ctx, id, input)
			return resp, err
		})
	})
	sc.Step(`^I list the models$`, func() error {
		return w.send(func(ctx context.Context, c *client.Client) (*client.Response, error) {
			_, resp, err := c.Models(ctx)
			return resp, err
		})
	})
	sc.Step(`^I list the models without an API key$`, func() error {
		return w.raw(http.MethodGet, "/v1/models", "", nil, false)
	})

	// Raw HTTP, for probes and hostile input.
	sc.Step(`^I call (GET|POST|PUT|PATCH|DELETE|HEAD) (/\S*)$`, func(method, path string) error {
		return w.raw(method, path, "", nil, true)
	})
	sc.Step(`^I call (GET|POST|PUT|PATCH|DELETE|HEAD) (/\S*) without an API key$`, func(method, path string) error {
		return w.raw(method, path, "", nil, false)
	})
	sc.Step(`^I post (.+) to (/\S+)$`, func(name, path string) error {
		body, err := sampleBody(name)
		if err != nil {
			return err
		}
		return w.raw(http.MethodPost, path, "application/json", body, true)
	})
	sc.Step(`^I call (GET|POST|PUT|PATCH|DELETE) (/\S*) with (.+) as "([^"]*)"$`, func(method, path, name, ct string) error {
		chunked := strings.HasSuffix(name, " without a length")
		body, err := sampleBody(strings.TrimSuffix(name, " without a length"))
		if err != nil {
			return err
		}
		if name == "no body" {
			body = nil
		}
		if chunked {
			return w.rawChunked(method, path, ct, body)
		}
		return w.raw(method, path, ct, body, true)
	})
}

// sendConcurrently holds one request in flight at the upstream, then sends the others while it
// is there: the only reliable way to meet an in-flight limit without sleeping and hoping.
func (w *world) sendConcurrently(n int) error {
	if n < 2 {
		return fmt.Errorf("at the same time needs at least 2 requests")
	}
	c, err := w.client()
	if err != nil {
		return err
	}
	sim, err := w.simControl()
	if err != nil {
		return err
	}
	type result struct {
		resp *client.Response
		err  error
	}
	results := make([]result, n)
	send := func(i int) {
		ctx, cancel := reqCtx()
		defer cancel()
		_, resp, err := c.Chat(ctx, chatOf(fmt.Sprintf("Concurrent message %d", i+1)))
		results[i] = result{resp, err}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(0) }()
	if err := poll(5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := sim.Stats(ctx)
		if err != nil {
			return err
		}
		if st.InFlight < 1 {
			return fmt.Errorf("the first request has not reached the upstream")
		}
		return nil
	}); err != nil {
		wg.Wait()
		return err
	}
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); send(i) }(i)
	}
	wg.Wait()
	for _, r := range results {
		if err := w.record(r.resp, r.err, time.Now()); err != nil {
			return err
		}
	}
	return nil
}
