package bdd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
)

// field reads a dotted path of the last JSON answer.
func (w *world) field(path string) (any, error) {
	if _, err := w.last(); err != nil {
		return nil, err
	}
	if w.body == nil {
		return nil, fmt.Errorf("the response is not a JSON object: %.300s", w.resp.Body)
	}
	v, ok := jsonPath(w.body, path)
	if !ok {
		return nil, fmt.Errorf("the response has no %s: %.300s", path, w.resp.Body)
	}
	return v, nil
}

func (w *world) stringField(path string) (string, error) {
	v, err := w.field(path)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is %v (%T), not a string", path, v, v)
	}
	return s, nil
}

func (w *world) numberField(path string) (float64, error) {
	v, err := w.field(path)
	if err != nil {
		return 0, err
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("%s is %v (%T), not a number", path, v, v)
	}
	return f, nil
}

// usage is the token usage of the last answer: a chat completion, an agent run, or a stream's
// usage chunk.
type usageInfo struct {
	prompt, completion, total int
	cost                      *float64
	estimated                 bool
}

func (w *world) usage() (usageInfo, error) {
	var u usageInfo
	if w.events != nil {
		for _, e := range w.events {
			if e.Chunk != nil && e.Chunk.Usage != nil {
				cu := e.Chunk.Usage
				return usageInfo{cu.PromptTokens, cu.CompletionTokens, cu.TotalTokens, cu.CostUSD, cu.Estimated}, nil
			}
		}
		return u, errors.New("the stream carried no usage chunk")
	}
	v, err := w.field("usage")
	if err != nil {
		return u, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return u, fmt.Errorf("usage is %v, not an object", v)
	}
	num := func(k string) int { f, _ := m[k].(float64); return int(f) }
	u.prompt, u.completion, u.total = num("prompt_tokens"), num("completion_tokens"), num("total_tokens")
	if c, ok := m["cost_usd"].(float64); ok {
		u.cost = &c
	}
	u.estimated, _ = m["estimated"].(bool)
	return u, nil
}

var requestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (w *world) registerResponseSteps(sc *godog.ScenarioContext) {
	sc.Step(`^the response status is (\d+)$`, func(want int) error {
		r, err := w.last()
		if err != nil {
			return err
		}
		if r.Status != want {
			return fmt.Errorf("status %d, want %d; body: %.400s", r.Status, want, r.Body)
		}
		return nil
	})
	sc.Step(`^all (\d+) responses have status (\d+)$`, func(n, want int) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.responses) < n {
			return fmt.Errorf("%d responses, want %d", len(w.responses), n)
		}
		for i, r := range w.responses[len(w.responses)-n:] {
			if r.Status != want {
				return fmt.Errorf("response %d: status %d, want %d; body: %.300s", i+1, r.Status, want, r.Body)
			}
		}
		return nil
	})
	sc.Step(`^the responses have the statuses (\d+(?:(?:, | and )\d+)*)$`, func(list string) error {
		var want []int
		for _, f := range regexp.MustCompile(`\d+`).FindAllString(list, -1) {
			n, _ := strconv.Atoi(f)
			want = append(want, n)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.responses) < len(want) {
			return fmt.Errorf("%d responses, want %d", len(w.responses), len(want))
		}
		var got []int
		for _, r := range w.responses[len(w.responses)-len(want):] {
			got = append(got, r.Status)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("statuses %v, want %v (in any order)", got, want)
		}
		return nil
	})

	sc.Step(`^one of the responses has status (\d+) and the error code "([^"]*)"$`, func(status int, code string) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, r := range w.responses {
			if r.Status != status {
				continue
			}
			if c, _ := jsonPath(decode(r.Body), "error.code"); c == code {
				return nil
			}
			return fmt.Errorf("the %d response has the body %.300s, want error code %q", status, r.Body, code)
		}
		return fmt.Errorf("no response has status %d", status)
	})

	// OpenAI's error envelope: {"error": {"message", "type", "code", "param"}}.
	sc.Step(`^the error type is "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("error.type")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("error type %q, want %q (%.300s)", got, want, w.resp.Body)
		}
		return nil
	})
	sc.Step(`^the error code is "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("error.code")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("error code %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the error parameter is "([^"]*)"$`, func(want string) error {
		v, err := w.field("error")
		if err != nil {
			return err
		}
		param := v.(map[string]any)["param"]
		if want == "none" {
			if param != nil {
				return fmt.Errorf("the error names the parameter %v, want none", param)
			}
			return nil
		}
		if param != want {
			return fmt.Errorf("the error names the parameter %v, want %q (%.300s)", param, want, w.resp.Body)
		}
		return nil
	})
	sc.Step(`^the error message mentions "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("error.message")
		if err != nil {
			return err
		}
		if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			return fmt.Errorf("error message %q does not mention %q", got, want)
		}
		return nil
	})
	sc.Step(`^the error message is not empty$`, func() error {
		got, err := w.stringField("error.message")
		if err != nil {
			return err
		}
		if strings.TrimSpace(got) == "" {
			return errors.New("the error message is empty")
		}
		return nil
	})

	// Headers.
	header := func(name string) (string, bool, error) {
		r, err := w.last()
		if err != nil {
			return "", false, err
		}
		v, ok := r.Header[http.CanonicalHeaderKey(name)]
		if !ok || len(v) == 0 {
			return "", false, nil
		}
		return v[0], true, nil
	}
	sc.Step(`^the response header "([^"]+)" is "([^"]*)"$`, func(name, want string) error {
		got, ok, err := header(name)
		if err != nil {
			return err
		}
		if !ok || got != want {
			return fmt.Errorf("header %s is %q, want %q", name, got, want)
		}
		return nil
	})
	sc.Step(`^the response header "([^"]+)" (starts with|contains) "([^"]*)"$`, func(name, how, want string) error {
		got, ok, err := header(name)
		if err != nil {
			return err
		}
		match := strings.Contains(got, want)
		if how == "starts with" {
			match = strings.HasPrefix(got, want)
		}
		if !ok || !match {
			return fmt.Errorf("header %s is %q, want it to %s %q", name, got, how, want)
		}
		return nil
	})
	sc.Step(`^the response has no header "([^"]+)"$`, func(name string) error {
		got, ok, err := header(name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("header %s is %q, want none", name, got)
		}
		return nil
	})
	sc.Step(`^the response asks to retry after (\d+) seconds? at most$`, func(max int) error {
		got, ok, err := header("Retry-After")
		if err != nil {
			return err
		}
		n, perr := strconv.Atoi(got)
		if !ok || perr != nil || n < 1 || n > max {
			return fmt.Errorf("Retry-After is %q, want 1..%d seconds", got, max)
		}
		return nil
	})
	sc.Step(`^the response carries a request id$`, func() error {
		got, _, err := header("X-Request-Id")
		if err != nil {
			return err
		}
		if !requestID.MatchString(got) {
			return fmt.Errorf("X-Request-Id %q is not a 32-hex-digit id", got)
		}
		return nil
	})

	// The body of a successful answer.
	sc.Step(`^the response is an? "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("object")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("object %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the status reads "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("status")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("status %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the response field "([^"]+)" is "([^"]*)"$`, func(path, want string) error {
		v, err := w.field(path)
		if err != nil {
			return err
		}
		if fmt.Sprint(v) != want {
			return fmt.Errorf("%s is %v, want %q", path, v, want)
		}
		return nil
	})
	sc.Step(`^the answer is not empty$`, func() error {
		got, err := w.stringField("choices.0.message.content")
		if err != nil {
			return err
		}
		if strings.TrimSpace(got) == "" {
			return errors.New("the answer is empty")
		}
		return nil
	})
	sc.Step(`^the answer is the same as before$`, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.responses) < 2 {
			return errors.New("need two answers to compare")
		}
		a, b := w.responses[len(w.responses)-2], w.responses[len(w.responses)-1]
		ca, _ := jsonPath(decode(a.Body), "choices.0.message.content")
		cb, _ := jsonPath(decode(b.Body), "choices.0.message.content")
		if ca == nil || ca != cb {
			return fmt.Errorf("answers differ: %v / %v", ca, cb)
		}
		return nil
	})
	sc.Step(`^the finish reason is "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("choices.0.finish_reason")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("finish reason %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the response model is "([^"]*)"$`, func(want string) error {
		got, err := w.stringField("model")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("model %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the response reports token usage$`, func() error {
		u, err := w.usage()
		if err != nil {
			return err
		}
		if u.prompt <= 0 || u.completion <= 0 || u.total != u.prompt+u.completion {
			return fmt.Errorf("usage %+v: want positive prompt and completion tokens and total = their sum", u)
		}
		return nil
	})
	sc.Step(`^the response reports at most (\d+) completion tokens$`, func(max int) error {
		u, err := w.usage()
		if err != nil {
			return err
		}
		if u.completion < 1 || u.completion > max {
			return fmt.Errorf("%d completion tokens, want 1..%d", u.completion, max)
		}
		return nil
	})

	// Timing, with tolerances: the machine is shared, so upper bounds are generous.
	sc.Step(`^the answer came within (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if w.elapsed > d {
			return fmt.Errorf("the answer took %s, want at most %s", w.elapsed, d)
		}
		return nil
	})
	sc.Step(`^the answer took at least (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if w.elapsed < d {
			return fmt.Errorf("the answer took %s, want at least %s", w.elapsed, d)
		}
		return nil
	})
	sc.Step(`^the answer came after about (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		if w.elapsed < d || w.elapsed > d+time.Second {
			return fmt.Errorf("the answer took %s, want %s (up to 1s later)", w.elapsed, d)
		}
		return nil
	})
}

func decode(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
