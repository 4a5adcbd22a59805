package bdd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/client"
)

// openStream starts a streaming request. A refusal before the first byte is an ordinary JSON
// error and becomes the last response; otherwise the stream stays open for the next steps.
func (w *world) openStream(path string, req client.ChatRequest) error {
	c, err := w.client()
	if err != nil {
		return err
	}
	if path == "/v1/chat/completions" {
		req.Stream = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	w.streamStart = time.Now()
	st, err := c.OpenStream(ctx, path, req)
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		cancel()
		r := ae.Response
		w.elapsed = time.Since(w.streamStart)
		w.keep(&r)
		return nil
	case err != nil:
		cancel()
		return fmt.Errorf("open stream: %w", err)
	}
	w.stream, w.streamStop = st, cancel
	w.resp = &client.Response{Status: st.Response.StatusCode, Header: st.Response.Header}
	w.body = nil
	w.events = []*client.Event{}
	w.streamDone = false
	return nil
}

// readStream reads events until stop says so or the stream ends.
func (w *world) readStream(stop func() bool) error {
	if w.stream == nil {
		return errors.New("no stream is open")
	}
	for !w.streamDone && !stop() {
		ev, err := w.stream.Next()
		if err != nil {
			w.finishStream(err)
			break
		}
		w.events = append(w.events, ev)
		if ev.Done || ev.Error != nil {
			w.finishStream(nil)
		}
	}
	return nil
}

func (w *world) finishStream(err error) {
	w.streamDone = true
	w.streamDur = time.Since(w.streamStart)
	if err != nil && !errors.Is(err, io.EOF) {
		w.streamErr = err
	}
	_ = w.stream.Close()
	w.mu.Lock()
	w.sent++
	w.mu.Unlock()
}

// drain reads the open stream to its end (if one is open; a refused stream has no events).
func (w *world) drain() error {
	if w.stream == nil {
		if w.resp != nil && w.events == nil {
			return fmt.Errorf("the stream was refused: status %d: %.300s", w.resp.Status, w.resp.Body)
		}
		return errors.New("no stream was opened")
	}
	return w.readStream(func() bool { return false })
}

func contentChunks(evs []*client.Event) int {
	n := 0
	for _, e := range evs {
		if e.Chunk != nil {
			for _, c := range e.Chunk.Choices {
				if c.Delta.Content != "" {
					n++
					break
				}
			}
		}
	}
	return n
}

func (w *world) registerStreamSteps(sc *godog.ScenarioContext) {
	stream := func(path string, req client.ChatRequest) error {
		if err := w.openStream(path, req); err != nil {
			return err
		}
		if w.stream == nil {
			return nil // refused: the response steps check it
		}
		return w.drain()
	}
	sc.Step(`^I stream the chat message "([^"]*)"$`, func(text string) error {
		return stream("/v1/chat/stream", chatOf(text))
	})
	sc.Step(`^I stream the chat message "([^"]*)" to the model "([^"]*)"$`, func(text, model string) error {
		req := chatOf(text)
		req.Model = model
		return stream("/v1/chat/stream", req)
	})
	sc.Step(`^I stream the chat message "([^"]*)" on /v1/chat/completions (asking for usage|without asking for usage)$`, func(text, usage string) error {
		req := chatOf(text)
		if usage == "asking for usage" {
			req.StreamOptions = &client.StreamOptions{IncludeUsage: true}
		}
		return stream("/v1/chat/completions", req)
	})
	sc.Step(`^I start streaming the chat message "([^"]*)"$`, func(text string) error {
		if err := w.openStream("/v1/chat/stream", chatOf(text)); err != nil {
			return err
		}
		if w.stream == nil {
			return fmt.Errorf("the stream was refused: status %d: %.300s", w.resp.Status, w.resp.Body)
		}
		return nil
	})
	sc.Step(`^I read (\d+) content chunks?$`, func(n int) error {
		if err := w.readStream(func() bool { return contentChunks(w.events) >= n }); err != nil {
			return err
		}
		if got := contentChunks(w.events); got < n {
			return fmt.Errorf("the stream ended after %d content chunks, want %d", got, n)
		}
		return nil
	})
	sc.Step(`^I disconnect$`, func() error {
		if w.stream == nil {
			return errors.New("no stream is open")
		}
		w.streamStop()
		w.finishStream(nil)
		return nil
	})

	sc.Step(`^the stream ends with \[DONE\]$`, func() error {
		if err := w.drain(); err != nil {
			return err
		}
		if w.streamErr != nil {
			return fmt.Errorf("the stream broke: %w", w.streamErr)
		}
		if len(w.events) == 0 || !w.events[len(w.events)-1].Done {
			return fmt.Errorf("the stream did not end with [DONE]: %s", lastEvent(w.events))
		}
		return nil
	})
	errorEvent := func() (*client.ErrorBody, error) {
		if err := w.drain(); err != nil {
			return nil, err
		}
		if len(w.events) == 0 || w.events[len(w.events)-1].Error == nil {
			return nil, fmt.Errorf("the stream did not end with an error event: %s", lastEvent(w.events))
		}
		for _, e := range w.events {
			if e.Done {
				return nil, errors.New("the stream sent [DONE] before its error event")
			}
		}
		return w.events[len(w.events)-1].Error, nil
	}
	sc.Step(`^the stream ends with an error event of type "([^"]*)"$`, func(typ string) error {
		e, err := errorEvent()
		if err != nil {
			return err
		}
		if e.Error.Type != typ {
			return fmt.Errorf("error event of type %q (%s), want %q", e.Error.Type, e.Error.Message, typ)
		}
		return nil
	})
	sc.Step(`^the stream ends with an error event of type "([^"]*)" and code "([^"]*)"$`, func(typ, code string) error {
		e, err := errorEvent()
		if err != nil {
			return err
		}
		got := ""
		if e.Error.Code != nil {
			got = *e.Error.Code
		}
		if e.Error.Type != typ || got != code {
			return fmt.Errorf("error event %q/%q (%s), want %q/%q", e.Error.Type, got, e.Error.Message, typ, code)
		}
		return nil
	})
	sc.Step(`^I receive(?:d)? (\d+) content chunks?$`, func(n int) error {
		if err := w.drain(); err != nil {
			return err
		}
		if got := contentChunks(w.events); got != n {
			return fmt.Errorf("%d content chunks, want %d", got, n)
		}
		return nil
	})
	sc.Step(`^I receive(?:d)? at least (\d+) content chunks$`, func(n int) error {
		if err := w.drain(); err != nil {
			return err
		}
		if got := contentChunks(w.events); got < n {
			return fmt.Errorf("%d content chunks, want at least %d", got, n)
		}
		return nil
	})
	sc.Step(`^every chunk is a "([^"]*)" for the model "([^"]*)"$`, func(object, model string) error {
		if err := w.drain(); err != nil {
			return err
		}
		n := 0
		for _, e := range w.events {
			if e.Chunk == nil {
				continue
			}
			n++
			if e.Chunk.Object != object || e.Chunk.Model != model || e.Chunk.ID == "" {
				return fmt.Errorf("chunk %s: want object %q, model %q and an id", e.Data, object, model)
			}
		}
		if n == 0 {
			return errors.New("no chunks")
		}
		return nil
	})
	sc.Step(`^the streamed text is not empty$`, func() error {
		if err := w.drain(); err != nil {
			return err
		}
		if client.StreamText(w.events) == "" {
			return errors.New("the streamed text is empty")
		}
		return nil
	})
	sc.Step(`^the stream (includes|does not include) a usage chunk$`, func(how string) error {
		if err := w.drain(); err != nil {
			return err
		}
		_, err := w.usage()
		switch {
		case how == "includes" && err != nil:
			return err
		case how == "does not include" && err == nil:
			return errors.New("the stream carried a usage chunk it was not asked for")
		}
		return nil
	})
	sc.Step(`^the last chunk before \[DONE\] reports token usage with a cost$`, func() error {
		if err := w.drain(); err != nil {
			return err
		}
		n := len(w.events)
		if n < 2 || !w.events[n-1].Done || w.events[n-2].Chunk == nil || w.events[n-2].Chunk.Usage == nil {
			return fmt.Errorf("the chunk before [DONE] is not a usage chunk: %s", lastEvent(w.events[:max(n-1, 0)]))
		}
		u := w.events[n-2].Chunk.Usage
		if len(w.events[n-2].Chunk.Choices) != 0 || u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.CostUSD == nil || *u.CostUSD <= 0 {
			return fmt.Errorf("usage chunk %s: want no choices, positive token counts and a cost", w.events[n-2].Data)
		}
		return nil
	})
	sc.Step(`^the usage is marked as estimated$`, func() error {
		if err := w.drain(); err != nil {
			return err
		}
		u, err := w.usage()
		if err != nil {
			return err
		}
		if !u.estimated || u.prompt <= 0 || u.completion <= 0 {
			return fmt.Errorf("usage %+v: want estimated positive counts", u)
		}
		return nil
	})
	sc.Step(`^the stream took at least (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if err := w.drain(); err != nil {
			return err
		}
		if w.streamDur < d {
			return fmt.Errorf("the stream took %s, want at least %s", w.streamDur, d)
		}
		return nil
	})
	sc.Step(`^the stream ended within (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if err := w.drain(); err != nil {
			return err
		}
		if w.streamDur > d {
			return fmt.Errorf("the stream took %s, want at most %s", w.streamDur, d)
		}
		return nil
	})
	sc.Step(`^the stream ended after about (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if err := w.drain(); err != nil {
			return err
		}
		if w.streamDur < d || w.streamDur > d+time.Second {
			return fmt.Errorf("the stream took %s, want %s (up to 1s later)", w.streamDur, d)
		}
		return nil
	})
	sc.Step(`^the stream's cost is \$([\d.]+) per million input tokens and \$([\d.]+) per million output tokens$`, func(in, out float64) error {
		if err := w.drain(); err != nil {
			return err
		}
		return w.checkTokenCost(in, out)
	})
}

func lastEvent(evs []*client.Event) string {
	if len(evs) == 0 {
		return "no events"
	}
	e := evs[len(evs)-1]
	name := e.Name
	if name == "" {
		name = "data"
	}
	return fmt.Sprintf("last event %s: %.200s", name, e.Data)
}
