package bdd

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/cucumber/godog"
)

// responseObject is what the steps read of a Responses API response.
type responseObject struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	Status             string  `json:"status"`
	OutputText         string  `json:"output_text"`
	PreviousResponseID *string `json:"previous_response_id"`
	Output             []struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"output"`
	Usage *struct {
		InputTokens  int      `json:"input_tokens"`
		OutputTokens int      `json:"output_tokens"`
		CostUSD      *float64 `json:"cost_usd"`
	} `json:"usage"`
}

// sseEvent is one event of a Responses stream.
type sseEvent struct {
	name string
	data map[string]any
}

func (w *world) createResponse(body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if err := w.raw(http.MethodPost, "/v1/responses", "application/json", b, true); err != nil {
		return err
	}
	var r responseObject
	if w.resp.Status == http.StatusOK && w.decodeLast(&r) == nil && r.ID != "" {
		w.responseIDs = append(w.responseIDs, r.ID)
	}
	return nil
}

func (w *world) lastResponse() (responseObject, error) {
	var r responseObject
	err := w.decodeLast(&r)
	return r, err
}

func (w *world) firstResponseID() (string, error) {
	if len(w.responseIDs) == 0 {
		return "", fmt.Errorf("no response was created")
	}
	return w.responseIDs[0], nil
}

// streamEvents parses the last answer as a Responses stream.
func (w *world) streamEvents() ([]sseEvent, error) {
	r, err := w.last()
	if err != nil {
		return nil, err
	}
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSpace(string(r.Body)), "\n\n") {
		var ev sseEvent
		for _, line := range strings.Split(block, "\n") {
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = name
			} else if data, ok := strings.CutPrefix(line, "data: "); ok {
				if err := json.Unmarshal([]byte(data), &ev.data); err != nil {
					return nil, fmt.Errorf("event %q: %w", ev.name, err)
				}
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// eventSteps are the words of the order step, by event type.
var eventSteps = map[string]string{
	"response.created": "created", "response.in_progress": "in progress", "response.output_item.added": "item added",
	"response.content_part.added": "part added", "response.output_text.delta": "text deltas", "response.output_text.done": "text done",
	"response.content_part.done": "part done", "response.output_item.done": "item done", "response.completed": "completed",
}

func (w *world) registerResponsesSteps(sc *godog.ScenarioContext) {
	sc.Step(`^I create a response to "([^"]*)"$`, func(text string) error {
		return w.createResponse(map[string]any{"input": text})
	})
	sc.Step(`^I create a response to "([^"]*)" with the instructions "([^"]*)"$`, func(text, instr string) error {
		return w.createResponse(map[string]any{"input": text, "instructions": instr})
	})
	sc.Step(`^I create a response to "([^"]*)" that must call the function "([^"]*)" with a string parameter "([^"]*)"$`, func(text, fn, param string) error {
		return w.createResponse(map[string]any{"input": text, "tool_choice": "required", "tools": []any{map[string]any{
			"type": "function", "name": fn, "parameters": map[string]any{"type": "object",
				"properties": map[string]any{param: map[string]any{"type": "string"}}, "required": []string{param}}}}})
	})
	sc.Step(`^I continue the conversation with "([^"]*)"$`, func(text string) error {
		id, err := w.firstResponseID()
		if err != nil {
			return err
		}
		return w.createResponse(map[string]any{"input": text, "previous_response_id": id})
	})
	sc.Step(`^I stream a response to "([^"]*)"$`, func(text string) error {
		b, _ := json.Marshal(map[string]any{"input": text, "stream": true})
		return w.raw(http.MethodPost, "/v1/responses", "application/json", b, true)
	})
	sc.Step(`^I send the responses request (\{.*\})$`, func(body string) error {
		return w.raw(http.MethodPost, "/v1/responses", "application/json", []byte(body), true)
	})
	sc.Step(`^I (read back|delete|list the input items of) the first response$`, func(what string) error {
		id, err := w.firstResponseID()
		if err != nil {
			return err
		}
		switch what {
		case "delete":
			return w.raw(http.MethodDelete, "/v1/responses/"+id, "", nil, true)
		case "read back":
			return w.raw(http.MethodGet, "/v1/responses/"+id, "", nil, true)
		}
		return w.raw(http.MethodGet, "/v1/responses/"+id+"/input_items", "", nil, true)
	})
	sc.Step(`^the response status reads (completed|incomplete|failed)$`, func(want string) error {
		r, err := w.lastResponse()
		if err != nil || r.Status != want {
			return fmt.Errorf("status %q, want %q (%v)", r.Status, want, err)
		}
		return nil
	})
	sc.Step(`^the response has output text$`, func() error {
		r, err := w.lastResponse()
		if err != nil || strings.TrimSpace(r.OutputText) == "" {
			return fmt.Errorf("no output text (%v)", err)
		}
		return nil
	})
	sc.Step(`^the response reports input and output tokens and a cost$`, func() error {
		r, err := w.lastResponse()
		if err != nil || r.Usage == nil || r.Usage.InputTokens == 0 || r.Usage.OutputTokens == 0 || r.Usage.CostUSD == nil || *r.Usage.CostUSD <= 0 {
			return fmt.Errorf("usage = %+v (%v)", r.Usage, err)
		}
		return nil
	})
	sc.Step(`^the X-Cost-USD header equals the response's cost$`, func() error {
		r, err := w.lastResponse()
		if err != nil || r.Usage == nil || r.Usage.CostUSD == nil {
			return fmt.Errorf("no cost in the body (%v)", err)
		}
		h, err := strconv.ParseFloat(w.resp.Header.Get("X-Cost-USD"), 64)
		if err != nil || math.Abs(h-*r.Usage.CostUSD) > 1e-12 {
			return fmt.Errorf("X-Cost-USD %q, usage.cost_usd %v", w.resp.Header.Get("X-Cost-USD"), *r.Usage.CostUSD)
		}
		return nil
	})
	sc.Step(`^the response continues the first one$`, func() error {
		r, err := w.lastResponse()
		first, _ := w.firstResponseID()
		if err != nil || r.PreviousResponseID == nil || *r.PreviousResponseID != first {
			return fmt.Errorf("previous_response_id %v, want %s (%v)", r.PreviousResponseID, first, err)
		}
		return nil
	})
	sc.Step(`^the list has (\d+) items? with the role "([^"]*)"$`, func(n int, role string) error {
		var list struct {
			Data []struct{ Role string } `json:"data"`
		}
		if err := w.decodeLast(&list); err != nil {
			return err
		}
		if len(list.Data) != n || list.Data[0].Role != role {
			return fmt.Errorf("items = %+v", list.Data)
		}
		return nil
	})
	sc.Step(`^the output is a call of "([^"]*)" whose arguments have "([^"]*)"$`, func(fn, key string) error {
		r, err := w.lastResponse()
		if err != nil || len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != fn {
			return fmt.Errorf("output = %+v (%v)", r.Output, err)
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(r.Output[0].Arguments), &args); err != nil || args[key] == nil {
			return fmt.Errorf("arguments %q lack %q (%v)", r.Output[0].Arguments, key, err)
		}
		return nil
	})
	sc.Step(`^the events arrive in the order (.+)$`, func(list string) error {
		evs, err := w.streamEvents()
		if err != nil {
			return err
		}
		var got []string
		for _, ev := range evs {
			if s := eventSteps[ev.name]; len(got) == 0 || got[len(got)-1] != s {
				got = append(got, s)
			}
		}
		if want := strings.Split(list, ", "); strings.Join(got, ", ") != strings.Join(want, ", ") {
			return fmt.Errorf("events %q", strings.Join(got, ", "))
		}
		return nil
	})
	sc.Step(`^the events are numbered from 0 without gaps$`, func() error {
		evs, err := w.streamEvents()
		if err != nil {
			return err
		}
		for i, ev := range evs {
			if n, _ := ev.data["sequence_number"].(float64); int(n) != i || ev.data["type"] != ev.name {
				return fmt.Errorf("event %d (%s) is numbered %v", i, ev.name, ev.data["sequence_number"])
			}
		}
		return nil
	})
	sc.Step(`^the streamed deltas make up the completed response's text$`, func() error {
		evs, err := w.streamEvents()
		if err != nil {
			return err
		}
		var text strings.Builder
		for _, ev := range evs {
			if d, ok := ev.data["delta"].(string); ok && ev.name == "response.output_text.delta" {
				text.WriteString(d)
			}
		}
		last := evs[len(evs)-1]
		resp, _ := last.data["response"].(map[string]any)
		if last.name != "response.completed" || resp["output_text"] != text.String() || text.Len() == 0 {
			return fmt.Errorf("streamed %q, completed with %v", text.String(), resp["output_text"])
		}
		return nil
	})
}
