// Package pactkit holds what the consumer and provider contract tests share: the participant
// names, where pact files live, quiet Pact logging, and one addition to pact-go — a regex matching
// rule on a whole non-JSON body (the SSE chat streams), which pact-go's builders cannot express.
//
// It needs the Pact FFI library at link time (see .ci/pact-env.sh), like pact-go itself.
package pactkit

/*
#cgo LDFLAGS: -lpact_ffi
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

// From pact.h (FFI 0.5.x): InteractionHandle is a uint32_t.
bool pactffi_with_matching_rules(uint32_t interaction, int part, const char *rules);
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"unsafe"

	"github.com/pact-foundation/pact-go/v2/consumer"
	pactlog "github.com/pact-foundation/pact-go/v2/log"

	"aiservice/harness/launch"
)

// The participants of the two contracts. Pact files are named CONSUMER-PROVIDER.json.
const (
	// ClientConsumer is the harness client (harness/client), a stand-in for every API client.
	ClientConsumer = "aiservice-client"
	// Service is aiservice: the provider of the client contract, the consumer of the upstream one.
	Service = "aiservice"
	// Upstream is any OpenAI-compatible API the service's `openai` provider talks to.
	Upstream = "openai-compatible-upstream"
	// AnthropicClient is Anthropic's Go SDK (anthropic-sdk-go) calling the service's /v1/messages.
	AnthropicClient = "anthropic-client"
	// AnthropicUpstream is Anthropic's Messages API as the service's `anthropic` provider uses it.
	AnthropicUpstream = "anthropic-upstream"
)

// Provider states used by the contracts; the provider tests register a handler for each.
const (
	StateAgentCalculator = "agent calculator exists"
	StateAPIKeysRequired = "API keys are required"
	StateUpstreamFailing = "the upstream is failing"
	StateUpstreamHealthy = "the upstream answers normally"
	StateUpstreamKey     = "the API key sk-contract-upstream is valid"
	StateUpstreamLimited = "the upstream is rate limiting"
	StateUpstreamBusy    = "the upstream is overloaded"
	StateVirtualKeys     = "virtual keys with limits are configured"
)

// The virtual keys of StateVirtualKeys: one may use gpt-4o-mini only, one has spent its
// budget (and has a request limit, so its answers carry the x-ratelimit-* headers).
const (
	KeyMiniOnly = "sk-contract-mini-only"
	KeySpent    = "sk-contract-spent"
)

// UpstreamAPIKey is the key the service is configured with in the upstream contract; the
// provider (simulator) requires the same one.
const UpstreamAPIKey = "sk-contract-upstream"

// PactDir is harness/pacts, where the committed pact files live.
func PactDir() (string, error) {
	root, err := launch.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "harness", "pacts"), nil
}

// PactFile is the path of the committed pact between a consumer and a provider.
func PactFile(consumerName, providerName string) (string, error) {
	dir, err := PactDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, consumerName+"-"+providerName+".json"), nil
}

// QuietLogs lowers pact-go's log level to WARN unless PACT_LOG_LEVEL asks for more. It must run
// before the first mock server or verifier is created (the FFI's level is set once).
//
// It also drops one line pact-go v2.8.0 logs at ERROR for every mock server and verifier after
// the first: it re-initialises the FFI's logger each time, which the FFI refuses (harmlessly).
func QuietLogs() {
	if os.Getenv("PACT_LOG_LEVEL") == "" && os.Getenv("LOG_LEVEL") == "" {
		_ = pactlog.SetLogLevel("WARN")
	}
	log.SetOutput(&dropLines{next: log.Writer(), noise: []byte("can't set logger")})
}

// dropLines is a log writer that discards lines containing noise.
type dropLines struct {
	next  io.Writer
	noise []byte
}

func (d *dropLines) Write(p []byte) (int, error) {
	if bytes.Contains(p, d.noise) {
		return len(p), nil
	}
	return d.next.Write(p)
}

// interaction parts, as the FFI numbers them.
const partResponse = 1

// ResponseBodyRegex adds regex matching rules on the whole response body of the interaction
// being built; the body must match every pattern (one property each keeps a failure readable
// and the patterns free of JSON key order). Each must match the whole body: see Prefix, Suffix
// and Contains. Pact matches a text body (here text/event-stream)
// with rules at path "$", but pact-go only embeds matching rules in JSON bodies, so this calls
// the FFI's pactffi_with_matching_rules with the interaction's handle. The example body set with
// b.Body(...) is what the mock server serves; the rules are what provider verification checks.
// Call it after b.Body.
func ResponseBodyRegex(b *consumer.V4ResponseBuilder, patterns ...string) error {
	h, err := interactionHandle(b)
	if err != nil {
		return err
	}
	matchers := make([]any, 0, len(patterns))
	for _, p := range patterns {
		matchers = append(matchers, map[string]string{"match": "regex", "regex": p})
	}
	rules, err := json.Marshal(map[string]any{
		"body": map[string]any{"$": map[string]any{"combine": "AND", "matchers": matchers}},
	})
	if err != nil {
		return err
	}
	cs := C.CString(string(rules))
	defer C.free(unsafe.Pointer(cs))
	if !C.pactffi_with_matching_rules(C.uint32_t(h), partResponse, cs) {
		return errors.New("pactffi_with_matching_rules refused the rules (is the mock server already running?)")
	}
	return nil
}

// Pact's regex rules are Oniguruma (Ruby syntax) regexes that must match the whole value: a
// partial match is a mismatch, `^`/`$` are line anchors and `.` stops at newlines. Rules about
// part of a multi-line body are therefore written as whole-body patterns with these helpers,
// which use [\s\S] (any character, in Oniguruma and Go's RE2 alike) instead of flags.

// Prefix is a whole-body pattern for a body that starts with re.
func Prefix(re string) string { return re + `[\s\S]*` }

// Suffix is a whole-body pattern for a body that ends with re.
func Suffix(re string) string { return `[\s\S]*` + re }

// Contains is a whole-body pattern for a body that contains re.
func Contains(re string) string { return `[\s\S]*` + re + `[\s\S]*` }

// interactionHandle digs the FFI handle out of a pact-go builder:
// V4ResponseBuilder.interaction (*consumer.Interaction) .interaction (*native.Interaction)
// .handle (uint32). The fields are unexported, so reflection reads them; a pact-go upgrade that
// renames them fails here loudly rather than silently dropping the rule.
func interactionHandle(b any) (uint32, error) {
	v := reflect.ValueOf(b)
	for _, field := range []string{"interaction", "interaction", "handle"} {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return 0, fmt.Errorf("pactkit: nil pointer before field %q", field)
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return 0, fmt.Errorf("pactkit: %s is not a struct (pact-go internals changed)", v.Type())
		}
		v = v.FieldByName(field)
		if !v.IsValid() {
			return 0, fmt.Errorf("pactkit: no field %q (pact-go internals changed)", field)
		}
	}
	if v.Kind() != reflect.Uint32 {
		return 0, fmt.Errorf("pactkit: interaction handle is a %s, want uint32 (pact-go internals changed)", v.Kind())
	}
	return uint32(v.Uint()), nil
}
