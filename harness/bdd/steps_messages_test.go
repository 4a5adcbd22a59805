package bdd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/launch"
)

// anthropicYAML routes claude-haiku-4-5 to the scenario's simulator in Anthropic's Messages
// dialect (a `type: anthropic` provider) and gpt-4o-mini to its OpenAI dialect.
const anthropicYAML = `
providers:
  - {name: upstream, type: openai, base_url: %[1]s/v1}
  - {name: anthropic-up, type: anthropic, base_url: %[1]s}
models:
  - {name: gpt-4o-mini, provider: upstream}
  - {name: claude-haiku-4-5, provider: anthropic-up}
resilience: {max_retries: 0}
`

// anthropicService starts the scenario's own service in front of its own simulator.
func (w *world) anthropicService() error {
	if err := w.needLocal("a service with an Anthropic upstream"); err != nil {
		return err
	}
	if w.mode != modeNone {
		return errors.New("the service is already configured")
	}
	w.mode = modeDedicated
	sim, err := w.simControl()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := w.start
	o.Config = fmt.Sprintf(anthropicYAML, sim.URL)
	if w.svc, err = launch.StartService(ctx, o); err != nil {
		return fmt.Errorf("start a service with an Anthropic upstream: %w", err)
	}
	return w.snapshotBaseline()
}

// message sends a Messages request with one user turn.
func (w *world) message(text, model string, extra map[string]any) error {
	body := map[string]any{"model": model, "max_tokens": 256, "messages": []map[string]any{{"role": "user", "content": text}}}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return w.raw(http.MethodPost, "/v1/messages", "application/json", b, true)
}

func (w *world) registerMessagesSteps(sc *godog.ScenarioContext) {
	sc.Step(`^the service is running with an Anthropic upstream$`, w.anthropicService)
	sc.Step(`^I send the message "([^"]*)" to the model "([^"]*)"$`, func(text, model string) error { return w.message(text, model, nil) })
	sc.Step(`^I stream the message "([^"]*)" from the model "([^"]*)"$`, func(text, model string) error {
		return w.message(text, model, map[string]any{"stream": true})
	})
	sc.Step(`^I send the message "([^"]*)" with the tool "([^"]*)" to the model "([^"]*)"$`, func(text, tool, model string) error {
		return w.message(text, model, map[string]any{"tools": []map[string]any{{"name": tool, "description": "Current weather for a city",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}}}})
	})
	sc.Step(`^I send the Messages request (\{.*\})$`, func(body string) error {
		return w.raw(http.MethodPost, "/v1/messages", "application/json", []byte(body), true)
	})
	sc.Step(`^the message stops for "([^"]*)"(?: calling "([^"]*)")?$`, func(stop, tool string) error {
		var m struct {
			StopReason string `json:"stop_reason"`
			Content    []struct {
				Type, Name string
			} `json:"content"`
		}
		if err := w.decodeLast(&m); err != nil {
			return err
		}
		if m.StopReason != stop {
			return fmt.Errorf("stop_reason %q, want %q", m.StopReason, stop)
		}
		if tool != "" && (len(m.Content) == 0 || m.Content[len(m.Content)-1].Type != "tool_use" || m.Content[len(m.Content)-1].Name != tool) {
			return fmt.Errorf("content %+v, want a tool_use of %s", m.Content, tool)
		}
		return nil
	})
	sc.Step(`^the events are message_start, the content blocks, message_delta and message_stop$`, func() error {
		r, err := w.last()
		if err != nil {
			return err
		}
		var names []string
		for _, block := range strings.Split(strings.TrimSpace(string(r.Body)), "\n\n") {
			name, _, _ := strings.Cut(strings.TrimPrefix(block, "event: "), "\n")
			if name != "ping" {
				names = append(names, name)
			}
		}
		got := strings.Join(names, " ")
		if !strings.HasPrefix(got, "message_start content_block_start content_block_delta") ||
			!strings.HasSuffix(got, "content_block_stop message_delta message_stop") {
			return fmt.Errorf("events %s", got)
		}
		return nil
	})
	sc.Step(`^the error is in Anthropic's shape with the type "([^"]*)"$`, func(want string) error {
		r, err := w.last()
		if err != nil {
			return err
		}
		var e struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Type != "error" || e.Error.Message == "" {
			return fmt.Errorf("not Anthropic's error shape (%v): %.300s", err, r.Body)
		}
		if e.Error.Type != want {
			return fmt.Errorf("error type %q, want %q", e.Error.Type, want)
		}
		return nil
	})
}
