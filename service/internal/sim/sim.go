// Package sim is the built-in OpenAI-compatible simulator: a real HTTP server the gateway
// reaches through the same client as any upstream. Output is deterministic from the input, and
// its behaviour (latency, time to first token, chunking, injected errors, dropped connections)
// can be set at start and changed at run time through /_sim/behaviour, so tests, chaos and
// benchmarks can drive the gateway through every path without a network or a key.
package sim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aiservice/service/internal/convo"
	"aiservice/service/internal/wire"
)

// Behaviour is what the simulator does. The zero value answers at once with no errors.
type Behaviour struct {
	Latency          Duration `json:"latency"`             // before response headers
	TimeToFirstToken Duration `json:"time_to_first_token"` // streams: headers to first content chunk
	InterTokenDelay  Duration `json:"inter_token_delay"`   // streams: between chunks
	Chunks           int      `json:"chunks"`              // streams: content chunks (default 8)
	ErrorRate        float64  `json:"error_rate"`          // fraction of requests answered with ErrorStatus
	ErrorStatus      int      `json:"error_status"`        // default 503
	RetryAfter       Duration `json:"retry_after"`         // sent with injected errors when set
	FailNext         int      `json:"fail_next"`           // the next N requests fail, then normal
	ErrorModels      []string `json:"error_models"`        // when set, errors only hit these models
	DropConnection   bool     `json:"drop_connection"`     // close the TCP connection instead of answering (also instead of a Messages stream's error event)
	CutStreamAfter   int      `json:"cut_stream_after"`    // streams: close the connection after N chunks (Messages: an error event)
	OmitUsage        bool     `json:"omit_usage"`          // never report usage
	OutputTokens     int      `json:"output_tokens"`       // words in a reply (default 24, capped by max_tokens)
	ChatOnly         bool     `json:"chat_only"`           // no Responses API (404), as Ollama or vLLM
}

// Duration is a time.Duration that reads and writes as "150ms".
type Duration time.Duration

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("duration must be a string like 150ms")
	}
	*d = Duration(n)
	return nil
}

// Stats is what the simulator has seen, for tests to assert on.
type Stats struct {
	Requests        int64  `json:"requests"`
	ChatRequests    int64  `json:"chat_requests"`
	StreamRequests  int64  `json:"stream_requests"`
	ImageRequests   int64  `json:"image_requests"`
	InjectedErrors  int64  `json:"injected_errors"`
	Canceled        int64  `json:"canceled"` // requests whose client went away before the answer ended
	Completed       int64  `json:"completed"`
	InFlight        int64  `json:"in_flight"`
	LastTraceparent string `json:"last_traceparent"`
	LastModel       string `json:"last_model"`
	LastAuthorized  bool   `json:"last_authorized"` // the last request carried a valid key (or none was required)
}

// Server is the simulator.
type Server struct {
	log    *slog.Logger
	apiKey string
	mux    *http.ServeMux

	mu        sync.Mutex
	behaviour Behaviour
	rng       *rand.Rand
	lastTP    string
	lastModel string
	lastAuth  bool

	requests, chats, streams, images, injected, canceled, completed, inFlight atomic.Int64

	stored *convo.Log // the simulator's own stored responses (previous_response_id)
}

// New builds a simulator. apiKey, when set, is required as a Bearer token on /v1/*.
func New(b Behaviour, apiKey string, log *slog.Logger) *Server {
	s := &Server{log: log, apiKey: apiKey, behaviour: b, rng: rand.New(rand.NewPCG(1, 2)),
		stored: convo.NewLog(convo.NewMemory(simStoreEntries, simStoreBytes, time.Now), simStoreTTL)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/images/generations", s.imagesHandler)
	mux.HandleFunc("POST /v1/embeddings", s.embeddings)
	mux.HandleFunc("POST /v1/responses", s.responses)
	mux.HandleFunc("POST /v1/messages", s.messages)
	mux.HandleFunc("POST /v1/messages/count_tokens", s.countTokens)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /_sim/behaviour", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Behaviour())
	})
	mux.HandleFunc("PUT /_sim/behaviour", s.putBehaviour)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown route "+r.Method+" "+r.URL.Path, 0)
	})
	s.mux = mux
	return s
}

// ServeHTTP makes the simulator an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// WithoutControl serves the upstream API only: the /_sim/* control endpoints (behaviour,
// stats, reset) answer 404. The built-in simulator of `serve` uses it unless fault injection is
// enabled: anyone able to reach its loopback port could otherwise make the gateway fail.
func (s *Server) WithoutControl() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			writeError(w, http.StatusNotFound, "invalid_request_error", "unknown route "+r.Method+" "+r.URL.Path, 0)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Behaviour returns the current behaviour.
func (s *Server) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behaviour
}

// SetBehaviour replaces the behaviour.
func (s *Server) SetBehaviour(b Behaviour) {
	s.mu.Lock()
	s.behaviour = b
	s.mu.Unlock()
}

// Reset clears the counters and restores a normal behaviour.
func (s *Server) Reset() {
	for _, c := range []*atomic.Int64{&s.requests, &s.chats, &s.streams, &s.images, &s.injected, &s.canceled, &s.completed} {
		c.Store(0)
	}
	s.mu.Lock()
	s.behaviour = Behaviour{}
	s.lastTP, s.lastModel, s.lastAuth = "", "", false
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Requests: s.requests.Load(), ChatRequests: s.chats.Load(), StreamRequests: s.streams.Load(),
		ImageRequests: s.images.Load(), InjectedErrors: s.injected.Load(), Canceled: s.canceled.Load(),
		Completed: s.completed.Load(), InFlight: s.inFlight.Load(),
		LastTraceparent: s.lastTP, LastModel: s.lastModel, LastAuthorized: s.lastAuth,
	}
}

func (s *Server) putBehaviour(w http.ResponseWriter, r *http.Request) {
	var b Behaviour
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "behaviour: "+err.Error(), 0)
		return
	}
	if b.ErrorRate < 0 || b.ErrorRate > 1 || (b.ErrorStatus != 0 && (b.ErrorStatus < 400 || b.ErrorStatus > 599)) || b.Chunks < 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "behaviour: error_rate in [0,1], error_status 400-599, chunks >= 0", 0)
		return
	}
	s.SetBehaviour(b)
	writeJSON(w, http.StatusOK, b)
}

// admit records the request and decides, under one lock, whether to inject a failure.
// It returns the behaviour to apply and whether this request fails.
func (s *Server) admit(r *http.Request, model string) (Behaviour, bool) {
	s.requests.Add(1)
	authorized := s.keyOK(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTP = r.Header.Get("Traceparent")
	s.lastModel = model
	s.lastAuth = authorized
	b := s.behaviour
	targeted := len(b.ErrorModels) == 0
	for _, m := range b.ErrorModels {
		targeted = targeted || m == model
	}
	fail := false
	if targeted {
		switch {
		case s.behaviour.FailNext > 0:
			s.behaviour.FailNext--
			fail = true
		case b.ErrorRate > 0:
			fail = s.rng.Float64() < b.ErrorRate
		}
	}
	return b, fail
}

// call is one simulated upstream call in flight.
type call struct {
	finish    func(completed bool)
	completed bool // the answer was given in full (set by the handler)
}

func (c *call) end() { c.finish(c.completed) }

// begin is how every simulated call starts: admission (and the failure decision), in-flight
// tracking, the configured latency, then the injected failure if any. It reports false when
// the handler must stop: the failure was answered, or the client left during the latency.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, model string) (*call, Behaviour, bool) {
	return s.beginIn(w, r, model, writeError)
}

// errorWriter writes an error in one dialect's shape (OpenAI's writeError, Anthropic's
// writeAnthropicError).
type errorWriter func(w http.ResponseWriter, status int, typ, msg string, retryAfter Duration)

// beginIn is begin for a dialect whose injected failures have their own error shape.
func (s *Server) beginIn(w http.ResponseWriter, r *http.Request, model string, writeErr errorWriter) (*call, Behaviour, bool) {
	b, fail := s.admit(r, model)
	c := &call{finish: s.track(r)}
	if !wait(r, b.Latency) {
		return c, b, false
	}
	if fail {
		s.inject(w, b, writeErr)
		c.completed = true
		return c, b, false
	}
	return c, b, true
}

// inject answers with the configured failure: a dropped connection or an error status.
func (s *Server) inject(w http.ResponseWriter, b Behaviour, writeErr errorWriter) {
	s.injected.Add(1)
	if b.DropConnection {
		dropConnection(w)
		return
	}
	status := b.ErrorStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	typ := "server_error"
	if status == http.StatusTooManyRequests {
		typ = "rate_limit_error"
	}
	writeErr(w, status, typ, fmt.Sprintf("simulated upstream failure (%d)", status), b.RetryAfter)
}

// dropConnection closes the TCP connection without an answer, as a crashed upstream would.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// wait sleeps for d unless the client goes away first; it reports whether it slept fully.
func wait(r *http.Request, d Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(time.Duration(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// keyOK reports whether the request carries the simulator's key (or none is required): as a
// Bearer token, or in Anthropic's x-api-key header.
func (s *Server) keyOK(r *http.Request) bool {
	return s.apiKey == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+s.apiKey)) == 1 ||
		subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Api-Key")), []byte(s.apiKey)) == 1
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.keyOK(r) {
		return true
	}
	writeError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided.", 0)
	return false
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	list := wire.ModelList{Object: "list"}
	for _, id := range []string{"gpt-4o-mini", "gpt-4o", "gpt-image-1"} {
		list.Data = append(list.Data, wire.Model{ID: id, Object: "model", Created: 1700000000, OwnedBy: "aiservice-sim"})
	}
	writeJSON(w, http.StatusOK, list)
}

// track counts a request in flight and, when it ends, whether its client went away early.
func (s *Server) track(r *http.Request) func(completed bool) {
	s.inFlight.Add(1)
	return func(completed bool) {
		s.inFlight.Add(-1)
		switch {
		case completed:
			s.completed.Add(1)
		case r.Context().Err() != nil:
			s.canceled.Add(1)
		}
	}
}

func seed(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, typ, msg string, retryAfter Duration) {
	if retryAfter > 0 {
		secs := (time.Duration(retryAfter) + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
	}
	writeJSON(w, status, wire.ErrorBody{Error: wire.ErrorDetail{Message: msg, Type: typ}})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, "invalid_request_error", msg, 0)
}

// words is the vocabulary of simulated replies.
var words = strings.Fields(`the a gateway model answer request token stream latency cost
	service simulated response quickly carefully reliable result value signal system network
	upstream provider route budget metric trace span agent tool clock calculator image prompt`)
