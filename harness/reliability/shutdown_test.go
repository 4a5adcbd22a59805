package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// Shutdown under load: twenty successive service processes, each under a steady mixed load
// (chat, streams, images, agent runs) against a separate simulator with modest delays, each
// sent SIGTERM mid-load. What a deployment relies on, cycle after cycle:
//
//   - readiness flips to 503 at once, while the listener still accepts (the pre-drain delay);
//   - every request whose connection was established and whose request was written completes
//     successfully — including those sent after SIGTERM, during the pre-drain delay;
//   - every stream ends with [DONE] (or, past the grace period, the `shutdown` event);
//   - once the listener is closed, new connections are refused (counted apart: not accepted);
//   - the process exits 0 within the pre-drain delay plus the grace period.
//
// The load behaves like the clients behind a load balancer: they keep sending for lbLag after
// SIGTERM (the time a balancer needs to see readiness flip, shorter than the pre-drain delay)
// and then stop. So no request races the listener's close or the close of an idle keep-alive
// connection — races HTTP/1.1 cannot avoid for any server, which the pre-drain delay exists to
// keep clients away from. Requests sent after the listener closed are made on purpose, on
// fresh connections, and must all be refused.
const (
	shutdownCycles  = 20
	shutdownWorkers = 6
	shutdownLoad    = 800 * time.Millisecond
	preDrainDelay   = 200 * time.Millisecond
	gracePeriod     = 5 * time.Second
	lbLag           = 50 * time.Millisecond
	// exitSlack covers process exit and scheduling on a busy 2-core machine.
	exitSlack = time.Second
)

type loadKind int

const (
	kindChat loadKind = iota
	kindStream
	kindImage
	kindAgent
	numKinds
)

func (k loadKind) String() string {
	return [...]string{"chat", "stream", "image", "agent"}[k]
}

// outcome is one request as the client saw it.
type outcome struct {
	kind    loadKind
	sent    time.Time
	written bool   // the whole request went out on an established connection
	refused bool   // the dial was refused: no connection, the request was never accepted
	end     string // streams: "done" or "shutdown"
	err     error  // nil: the request succeeded (or was refused, see refused)
}

// doLoad sends one request of a kind and classifies what happened. A refused dial is the only
// failure that is not an error: anything after the connection was established must succeed.
func doLoad(ctx context.Context, c *client.Client, k loadKind, n int) outcome {
	o := outcome{kind: k, sent: time.Now()}
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	var err error
	switch k {
	case kindChat:
		var out *client.ChatResponse
		out, _, err = c.Chat(ctx, userChat(fmt.Sprintf("question %d", n)))
		if err == nil && (len(out.Choices) != 1 || out.Choices[0].FinishReason != "stop") {
			err = fmt.Errorf("chat answer without a finished choice: %+v", out)
		}
	case kindStream:
		var st *client.Stream
		st, err = c.ChatStream(ctx, userChat(fmt.Sprintf("stream %d", n)))
		if err == nil {
			var evs []*client.Event
			evs, err = st.Collect()
			switch {
			case err != nil:
			case len(evs) == 0:
				err = errors.New("stream ended without any event")
			case evs[len(evs)-1].Done:
				o.end = "done"
			case evs[len(evs)-1].Error != nil && evs[len(evs)-1].Error.Error.Type == "shutdown":
				o.end = "shutdown"
			default:
				err = fmt.Errorf("stream ended without [DONE] or a shutdown event; last event %q", evs[len(evs)-1].Data)
			}
		}
	case kindImage:
		var out *client.ImageResponse
		out, _, err = c.Images(ctx, client.ImageRequest{Prompt: fmt.Sprintf("lighthouse %d", n), Size: "256x256"})
		if err == nil && (len(out.Data) != 1 || out.Data[0].B64JSON == "") {
			err = fmt.Errorf("image answer without an image: %d items", len(out.Data))
		}
	case kindAgent:
		var run *client.AgentRun
		run, _, err = c.RunAgent(ctx, "calculator", "What is 6 * 7?")
		if err == nil && (run.Status != "completed" || !strings.Contains(run.Output, "42")) {
			err = fmt.Errorf("agent run %q: %q", run.Status, run.Output)
		}
	}
	o.written = written.Load()
	if err != nil && !o.written && errors.Is(err, syscall.ECONNREFUSED) {
		o.refused = true
		return o
	}
	o.err = err
	return o
}

// cycleResult is one SIGTERM cycle.
type cycleResult struct {
	Cycle             int     `json:"cycle"`
	Requests          int     `json:"requests"`
	Streams           int     `json:"streams"`
	StreamsDone       int     `json:"streams_done"`
	StreamsShutdown   int     `json:"streams_shutdown_event"`
	InFlightAtTerm    int     `json:"in_flight_at_sigterm"`
	SentAfterTerm     int     `json:"accepted_after_sigterm"`
	RefusedAfterClose int     `json:"refused_after_listener_closed"`
	Failures          int     `json:"failures"`
	ReadinessOffMs    float64 `json:"readiness_off_ms"`
	ListenerClosedMs  float64 `json:"listener_closed_ms"`
	ExitMs            float64 `json:"exit_ms"`
	ExitCode          int     `json:"exit_code"`
}

func TestShutdownUnderLoad(t *testing.T) {
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--latency", "50ms", "--inter-token-delay", "20ms", "--chunks", "8"}})
	cfg := launch.UpstreamConfig(sim.URL, "")

	var cycles []cycleResult
	for i := 1; i <= shutdownCycles; i++ {
		r := shutdownCycle(t, i, cfg)
		cycles = append(cycles, r)
		if t.Failed() {
			break // the first failing cycle says enough; later ones would repeat it
		}
	}

	var total cycleResult
	maxExit := 0.0
	for _, c := range cycles {
		total.Requests += c.Requests
		total.Streams += c.Streams
		total.StreamsDone += c.StreamsDone
		total.StreamsShutdown += c.StreamsShutdown
		total.InFlightAtTerm += c.InFlightAtTerm
		total.SentAfterTerm += c.SentAfterTerm
		total.RefusedAfterClose += c.RefusedAfterClose
		total.Failures += c.Failures
		maxExit = max(maxExit, c.ExitMs)
	}
	t.Logf("shutdown under load: cycles=%d requests=%d streams=%d (done=%d shutdown-event=%d) in-flight-at-SIGTERM=%d accepted-after-SIGTERM=%d refused-after-close=%d failures=%d max-exit=%.0fms",
		len(cycles), total.Requests, total.Streams, total.StreamsDone, total.StreamsShutdown, total.InFlightAtTerm,
		total.SentAfterTerm, total.RefusedAfterClose, total.Failures, maxExit)
	writeReport(t, "reliability-shutdown.json", map[string]any{
		"cycles": len(cycles), "requests": total.Requests, "streams": total.Streams,
		"streams_done": total.StreamsDone, "streams_shutdown_event": total.StreamsShutdown,
		"in_flight_at_sigterm": total.InFlightAtTerm, "accepted_after_sigterm": total.SentAfterTerm,
		"refused_after_listener_closed": total.RefusedAfterClose, "failures": total.Failures,
		"max_exit_ms": maxExit, "pre_drain_delay_ms": preDrainDelay.Milliseconds(),
		"grace_period_ms": gracePeriod.Milliseconds(), "per_cycle": cycles,
	})
	if len(cycles) == shutdownCycles && total.InFlightAtTerm == 0 {
		t.Error("no request was in flight at any SIGTERM: the load did not overlap the shutdowns")
	}
	if len(cycles) == shutdownCycles && total.SentAfterTerm == 0 {
		t.Error("no request was sent during any pre-drain delay: that window went untested")
	}
}

func shutdownCycle(t *testing.T, cycle int, cfg string) cycleResult {
	t.Helper()
	res := cycleResult{Cycle: cycle, ExitCode: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := launch.StartService(ctx, launch.Options{Config: cfg,
		Args: []string{"--grace-period", gracePeriod.String(), "--pre-drain-delay", preDrainDelay.String()}})
	if err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	defer svc.Kill() // a no-op once it exited
	var exitedAt time.Time
	exited := make(chan struct{})
	go func() {
		<-svc.Done()
		exitedAt = time.Now()
		close(exited)
	}()

	var (
		mu       sync.Mutex
		outcomes []outcome
		inFlight atomic.Int64
	)
	stop := make(chan struct{}) // closed lbLag after SIGTERM: the workers send no more
	var wg sync.WaitGroup
	for w := 0; w < shutdownWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker keeps its connection alive, as a balancer's pool does. One connection
			// per worker: a shared pool dials spare connections that may never carry a request,
			// and those hold up the drain (see TestShutdownWithIdleConnection).
			tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := client.New(svc.URL)
			c.HTTP = &http.Client{Transport: tr}
			for n := w; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				inFlight.Add(1)
				o := doLoad(ctx, c, loadKind(n%int(numKinds)), n)
				inFlight.Add(-1)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}

	time.Sleep(shutdownLoad) // the steady load this cycle runs before the signal
	res.InFlightAtTerm = int(inFlight.Load())
	term := time.Now()
	if err := svc.Signal(syscall.SIGTERM); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("cycle %d: SIGTERM: %v", cycle, err)
	}

	// The balancer's lag: the workers keep sending until lbLag after SIGTERM, whatever they
	// see, so the last of their requests meets the listener well before it closes.
	lag := time.AfterFunc(lbLag, func() { close(stop) })
	defer lag.Stop()

	// Readiness answers 503 while the listener still accepts.
	probe := &http.Client{Timeout: time.Second}
	readyOff := time.Time{}
	for time.Since(term) < preDrainDelay+gracePeriod {
		resp, err := probe.Get(svc.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				readyOff = time.Now()
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	probe.CloseIdleConnections()
	if readyOff.IsZero() {
		t.Errorf("cycle %d: /readyz never answered 503 after SIGTERM", cycle)
	} else {
		res.ReadinessOffMs = ms(readyOff.Sub(term))
	}

	// The listener closes once the pre-drain delay is over, not before. Probing with bare
	// dials (no request) cannot produce a half-accepted request.
	closedAt := time.Time{}
	for time.Since(term) < preDrainDelay+gracePeriod+exitSlack {
		conn, err := net.DialTimeout("tcp", svc.Addr, 200*time.Millisecond)
		if err != nil {
			// Refused; or reset, when the probe was still in the accept queue as it closed.
			if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
				closedAt = time.Now()
				break
			}
			t.Errorf("cycle %d: probing the listener: %v", cycle, err)
			break
		}
		conn.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if closedAt.IsZero() {
		t.Errorf("cycle %d: the listener still accepted connections %v after SIGTERM", cycle, preDrainDelay+gracePeriod+exitSlack)
	} else {
		res.ListenerClosedMs = ms(closedAt.Sub(term))
		if closedAt.Sub(term) < preDrainDelay {
			t.Errorf("cycle %d: the listener closed %v after SIGTERM, before the %v pre-drain delay ended", cycle, closedAt.Sub(term), preDrainDelay)
		}
		// Requests after the close: one of each kind on a fresh connection, all refused.
		late := client.New(svc.URL)
		late.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for k := loadKind(0); k < numKinds; k++ {
			o := doLoad(ctx, late, k, -1)
			switch {
			case o.refused:
				res.RefusedAfterClose++
			case o.err == nil:
				t.Errorf("cycle %d: a %s request after the listener closed was answered", cycle, k)
			default:
				t.Errorf("cycle %d: a %s request after the listener closed failed other than by a refused connection (written=%v): %v", cycle, k, o.written, o.err)
			}
		}
	}

	wg.Wait() // every request in flight at the close completes (or fails, and is counted)
	select {
	case <-exited:
	case <-time.After(time.Until(term.Add(preDrainDelay + gracePeriod + exitSlack))):
		t.Errorf("cycle %d: the service did not exit within %v of SIGTERM\n%s", cycle, preDrainDelay+gracePeriod+exitSlack, svc.Logs())
		return res
	}
	if code, werr := svc.Wait(time.Second); werr == nil { // immediate: it exited
		res.ExitCode = code
		res.ExitMs = ms(exitedAt.Sub(term))
		if code != 0 {
			t.Errorf("cycle %d: exit code %d\n%s", cycle, code, svc.Logs())
		}
		if exitedAt.Sub(term) > preDrainDelay+gracePeriod {
			t.Errorf("cycle %d: exit %v after SIGTERM, over the pre-drain delay + grace period (%v)", cycle, exitedAt.Sub(term), preDrainDelay+gracePeriod)
		}
	}

	for _, o := range outcomes {
		res.Requests++
		if o.sent.After(term) {
			res.SentAfterTerm++
		}
		if o.kind == kindStream && !o.refused {
			res.Streams++
			switch o.end {
			case "done":
				res.StreamsDone++
			case "shutdown":
				res.StreamsShutdown++
			}
		}
		switch {
		case o.refused:
			// Never accepted: not a failure. (Only a worker starved past the close can get
			// here; the listener's timing is asserted from the log below.)
			res.RefusedAfterClose++
		case o.err != nil:
			res.Failures++
			if res.Failures <= 5 {
				t.Errorf("cycle %d: a %s request sent %v relative to SIGTERM failed (request written: %v): %v",
					cycle, o.kind, o.sent.Sub(term), o.written, o.err)
			}
		}
	}
	checkShutdownPhases(t, cycle, svc.LogLines())
	if res.Failures > 0 {
		t.Logf("cycle %d service log:\n%s", cycle, svc.Logs())
	}
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// checkShutdownPhases asserts from the service's own log that readiness went off first and the
// listener closed no sooner than the pre-drain delay later (client-side probes only bound that
// from one side on a busy machine), and that the grace period did not run out.
func checkShutdownPhases(t *testing.T, cycle int, lines []map[string]any) {
	t.Helper()
	at := map[string]time.Time{}
	for _, l := range lines {
		phase, _ := l["phase"].(string)
		ts, _ := l["time"].(string)
		if phase == "" || ts == "" {
			continue
		}
		if tm, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			at[phase] = tm
		}
	}
	// Only the phases logged well before the exit: the last lines may still be in the pipe when
	// the process is reaped (the exit code already says the drain completed).
	for _, p := range []string{"readiness", "drain"} {
		if at[p].IsZero() {
			t.Errorf("cycle %d: shutdown phase %q not logged", cycle, p)
			return
		}
	}
	if _, forced := at["forced_end"]; forced {
		t.Errorf("cycle %d: the grace period ran out (phase forced_end) under a load whose requests take well under a second", cycle)
	}
	// The log's clock has millisecond precision or better; allow one millisecond of rounding.
	if gap := at["drain"].Sub(at["readiness"]); gap < preDrainDelay-time.Millisecond {
		t.Errorf("cycle %d: the listener closed %v after readiness went off, before the %v pre-drain delay ended", cycle, gap, preDrainDelay)
	}
}

// A connection that a client (a balancer warming its pool, an HTTP client's spare dial) opened
// but never sent a request on is not a request in flight: the drain must not wait for it.
// Otherwise one such connection makes every shutdown run out its grace period and end with
// forced_end, whatever the load. The same holds for the built-in simulator, which the service
// stops while flushing: a spare connection to it must not fail the exit.
func TestShutdownWithIdleConnection(t *testing.T) {
	const grace = 2 * time.Second
	for _, target := range []string{"service", "built-in simulator"} {
		t.Run(target, func(t *testing.T) {
			svc, err := launch.StartService(context.Background(), launch.Options{Args: []string{"--grace-period", grace.String()}})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Kill()
			addr := svc.Addr
			if target != "service" {
				addr = logAddr(t, svc, "built-in simulator listening")
			}
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Both servers have accepted it: a chat goes through the service's accept loop and,
			// upstream, through the built-in simulator's, after it.
			if _, _, err := client.New(svc.URL).Chat(context.Background(), userChat("hello")); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := svc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code, err := svc.Wait(grace + 5*time.Second)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 {
				t.Errorf("exit code %d after a graceful shutdown\n%s", code, svc.Logs())
			}
			if took > time.Second {
				t.Errorf("exit %v after SIGTERM with nothing in flight, only an idle connection to the %s (grace period %v)", took, target, grace)
			}
			if strings.Contains(svc.Logs(), `"phase":"forced_end"`) {
				t.Errorf("the drain waited out the grace period for a connection that never sent a request")
			}
		})
	}
}
