package bdd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/client"
)

// checkTokenCost compares the last answer's usage.cost_usd with the price table: USD per
// million tokens, input and output.
func (w *world) checkTokenCost(inPer1M, outPer1M float64) error {
	u, err := w.usage()
	if err != nil {
		return err
	}
	if u.cost == nil {
		return errors.New("the answer reports no cost_usd")
	}
	want := (float64(u.prompt)*inPer1M + float64(u.completion)*outPer1M) / 1e6
	// The service rounds each model call's cost to 1e-12 USD; one token costs at least 1e-8.
	if math.Abs(*u.cost-want) > 1e-11 {
		return fmt.Errorf("cost_usd %v for %d input and %d output tokens, want %v", *u.cost, u.prompt, u.completion, want)
	}
	return nil
}

func (w *world) costHeader() (float64, error) {
	r, err := w.last()
	if err != nil {
		return 0, err
	}
	h := r.Header.Get("X-Cost-USD")
	if h == "" {
		return 0, errors.New("the response has no X-Cost-USD header")
	}
	v, err := strconv.ParseFloat(h, 64)
	if err != nil {
		return 0, fmt.Errorf("X-Cost-USD %q is not a number", h)
	}
	return v, nil
}

func (w *world) decodeLast(v any) error {
	r, err := w.last()
	if err != nil {
		return err
	}
	if r.Status != 200 {
		return fmt.Errorf("status %d: %.300s", r.Status, r.Body)
	}
	return json.Unmarshal(r.Body, v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (w *world) registerDomainSteps(sc *godog.ScenarioContext) {
	// Images.
	sc.Step(`^I receive (\d+) images? as (base64|data URL) PNGs?(?: of (\S+))?$`, func(n int, format, size string) error {
		var resp client.ImageResponse
		if err := w.decodeLast(&resp); err != nil {
			return err
		}
		if len(resp.Data) != n {
			return fmt.Errorf("%d images, want %d", len(resp.Data), n)
		}
		for i, d := range resp.Data {
			enc := d.B64JSON
			if format == "data URL" {
				if d.B64JSON != "" || !strings.HasPrefix(d.URL, "data:image/png;base64,") {
					return fmt.Errorf("image %d: want only a data:image/png URL", i)
				}
				enc = strings.TrimPrefix(d.URL, "data:image/png;base64,")
			} else if d.URL != "" {
				return fmt.Errorf("image %d: a URL was sent, want base64 only", i)
			}
			raw, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return fmt.Errorf("image %d: not base64: %w", i, err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(raw))
			if err != nil {
				return fmt.Errorf("image %d: not a PNG: %w", i, err)
			}
			if size != "" {
				if got := fmt.Sprintf("%dx%d", cfg.Width, cfg.Height); got != size {
					return fmt.Errorf("image %d is %s, want %s", i, got, size)
				}
			}
		}
		return nil
	})
	sc.Step(`^the usage reports (\d+) images?$`, func(n float64) error {
		got, err := w.numberField("usage.images")
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("usage.images %v, want %v", got, n)
		}
		return nil
	})
	sc.Step(`^the image cost is \$([\d.]+)$`, func(want float64) error {
		got, err := w.numberField("usage.cost_usd")
		if err != nil {
			return err
		}
		h, err := w.costHeader()
		if err != nil {
			return err
		}
		if math.Abs(got-want) > 1e-12 || h != got {
			return fmt.Errorf("usage.cost_usd %v and X-Cost-USD %v, want both $%v", got, h, want)
		}
		return nil
	})

	// Cost of tokens.
	sc.Step(`^the cost is \$([\d.]+) per million input tokens and \$([\d.]+) per million output tokens$`, w.checkTokenCost)
	sc.Step(`^the X-Cost-USD header equals the usage cost$`, func() error {
		u, err := w.usage()
		if err != nil {
			return err
		}
		h, err := w.costHeader()
		if err != nil {
			return err
		}
		if u.cost == nil || *u.cost != h {
			return fmt.Errorf("X-Cost-USD %v, usage.cost_usd %v: want them equal", h, u.cost)
		}
		return nil
	})
	sc.Step(`^the response reports no cost$`, func() error {
		u, err := w.usage()
		if err != nil {
			return err
		}
		if u.cost != nil {
			return fmt.Errorf("usage.cost_usd is %v, want none (unknown is not free)", *u.cost)
		}
		if h := w.resp.Header.Get("X-Cost-USD"); h != "" {
			return fmt.Errorf("X-Cost-USD is %q, want none", h)
		}
		return nil
	})

	// Agents.
	sc.Step(`^the agents are:$`, func(t *godog.Table) error {
		var list client.AgentList
		if err := w.decodeLast(&list); err != nil {
			return err
		}
		want := rows(t)
		if list.Object != "list" || len(list.Data) != len(want) {
			return fmt.Errorf("object %q with %d agents, want a list of %d", list.Object, len(list.Data), len(want))
		}
		for i, r := range want {
			a := list.Data[i]
			if a.ID != r["id"] || a.Model != r["model"] || !slices.Equal(a.Tools, splitList(r["tools"])) || a.Object != "agent" {
				return fmt.Errorf("agent %d is %+v, want %v", i+1, a, r)
			}
			if a.Description == "" {
				return fmt.Errorf("agent %q has no description", a.ID)
			}
		}
		return nil
	})
	sc.Step(`^the agent "([^"]*)" uses the model "([^"]*)" with at most (\d+) steps$`, func(id, model string, steps int) error {
		var a client.Agent
		if err := w.decodeLast(&a); err != nil {
			return err
		}
		if a.ID != id || a.Model != model || a.MaxSteps != steps || a.Object != "agent" {
			return fmt.Errorf("agent %+v, want %s on %s with %d steps", a, id, model, steps)
		}
		return nil
	})
	run := func() (*client.AgentRun, error) {
		var r client.AgentRun
		if err := w.decodeLast(&r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	sc.Step(`^the run is "([^"]*)"$`, func(status string) error {
		r, err := run()
		if err != nil {
			return err
		}
		if r.Status != status || r.Object != "agent.run" {
			return fmt.Errorf("run %s is %q (object %q), want %q", r.ID, r.Status, r.Object, status)
		}
		return nil
	})
	sc.Step(`^the run used the tool "([^"]*)"(?: with the result "([^"]*)")?$`, func(tool, result string) error {
		r, err := run()
		if err != nil {
			return err
		}
		for _, s := range r.Steps {
			if s.Tool == tool && s.Error == "" && (result == "" || s.Result == result) {
				return nil
			}
		}
		return fmt.Errorf("no successful %s step with result %q in %+v", tool, result, r.Steps)
	})
	sc.Step(`^the run made no tool calls$`, func() error {
		r, err := run()
		if err != nil {
			return err
		}
		if len(r.Steps) != 0 {
			return fmt.Errorf("the run made tool calls: %+v", r.Steps)
		}
		return nil
	})
	sc.Step(`^the agent's answer contains "([^"]*)"$`, func(want string) error {
		r, err := run()
		if err != nil {
			return err
		}
		if !strings.Contains(r.Output, want) {
			return fmt.Errorf("answer %q does not contain %q", r.Output, want)
		}
		return nil
	})
	sc.Step(`^the tool result is the current time$`, func() error {
		r, err := run()
		if err != nil {
			return err
		}
		for _, s := range r.Steps {
			if s.Tool != "clock" {
				continue
			}
			t, err := time.Parse(time.RFC3339, s.Result)
			if err != nil {
				return fmt.Errorf("clock result %q is not an RFC 3339 time", s.Result)
			}
			if d := time.Since(t); d < -time.Minute || d > time.Minute {
				return fmt.Errorf("clock result %s is %s away from now", s.Result, d)
			}
			return nil
		}
		return errors.New("the run has no clock step")
	})

	// Models.
	sc.Step(`^the models are:$`, func(t *godog.Table) error {
		var list client.ModelList
		if err := w.decodeLast(&list); err != nil {
			return err
		}
		want := rows(t)
		if list.Object != "list" || len(list.Data) != len(want) {
			return fmt.Errorf("object %q with %d models, want a list of %d", list.Object, len(list.Data), len(want))
		}
		for i, r := range want {
			m := list.Data[i]
			if m.ID != r["id"] || m.OwnedBy != r["owned by"] || m.Object != "model" || m.Created == 0 {
				return fmt.Errorf("model %d is %+v, want %v", i+1, m, r)
			}
		}
		return nil
	})
	sc.Step(`^every model is owned by "([^"]*)"$`, func(owner string) error {
		var list client.ModelList
		if err := w.decodeLast(&list); err != nil {
			return err
		}
		if len(list.Data) == 0 {
			return errors.New("no models")
		}
		for _, m := range list.Data {
			if m.OwnedBy != owner {
				return fmt.Errorf("model %s is owned by %q, want %q", m.ID, m.OwnedBy, owner)
			}
		}
		return nil
	})

	// The published API description.
	sc.Step(`^the response is an OpenAPI 3 document describing (/\S+)$`, func(path string) error {
		v, err := w.stringField("openapi")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(v, "3.") {
			return fmt.Errorf("openapi version %q, want 3.x", v)
		}
		if _, ok := jsonPath(w.body, "paths"); !ok {
			return errors.New("the document has no paths")
		}
		paths := w.body["paths"].(map[string]any)
		if _, ok := paths[path]; !ok {
			return fmt.Errorf("the document does not describe %s", path)
		}
		return nil
	})
}
