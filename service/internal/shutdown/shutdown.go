// Package shutdown drains an HTTP server gracefully: readiness off at once, a pre-drain delay
// for load balancers to notice, stop accepting, let in-flight requests and streams finish
// within a grace period, then end whatever is left with a `shutdown` error and flush telemetry.
package shutdown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Plan is one graceful shutdown.
type Plan struct {
	Server        *http.Server
	Conns         *Conns // optional: fresh connections are expired when the drain starts
	Ready         *atomic.Bool
	PreDrainDelay time.Duration
	GracePeriod   time.Duration
	// EndRemaining cancels the base context of every request with the shutdown cause, so
	// streams still open at the deadline write their `shutdown` event and return.
	EndRemaining func()
	// Flush runs last (tracer and meter providers); it gets its own short deadline.
	Flush []func(context.Context) error
	Log   *slog.Logger
}

// freshGrace is how long a connection that has sent nothing may still send its request.
const freshGrace = 100 * time.Millisecond

// ErrForced is returned when a second signal cut the drain short.
var ErrForced = errors.New("shutdown forced by a second signal")

// Run drains. force is closed (or receives) when a second signal asks to exit at once.
func (p Plan) Run(force <-chan struct{}) error {
	began := time.Now()
	p.Ready.Store(false)
	p.Log.Info("shutdown: readiness is off", "phase", "readiness", "pre_drain_delay", p.PreDrainDelay.String())

	if p.PreDrainDelay > 0 {
		t := time.NewTimer(p.PreDrainDelay)
		select {
		case <-t.C:
		case <-force:
			t.Stop()
			return p.forced()
		}
	}

	p.Log.Info("shutdown: listener closed, draining in-flight requests", "phase", "drain", "grace_period", p.GracePeriod.String())

	graceCtx, cancel := context.WithTimeout(context.Background(), p.GracePeriod)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Server.Shutdown(graceCtx) }()
	if p.Conns != nil {
		// Now, and once more when Shutdown has surely closed the listener, so a connection
		// accepted in between is not missed.
		p.Conns.ExpireFresh(freshGrace)
		t := time.AfterFunc(50*time.Millisecond, func() { p.Conns.ExpireFresh(freshGrace) })
		defer t.Stop()
	}
	var err error
	select {
	case err = <-done:
	case <-force:
		return p.forced()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		p.Log.Warn("shutdown: grace period over, ending remaining requests", "phase", "forced_end")
		p.EndRemaining()
		// Handlers now write their shutdown events and return; give them a moment.
		endCtx, endCancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = p.Server.Shutdown(endCtx)
		endCancel()
		if err != nil {
			_ = p.Server.Close()
		}
		err = nil
	}

	p.Log.Info("shutdown: flushing telemetry", "phase", "flush")
	flushCtx, flushCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer flushCancel()
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("drain: %w", err))
	}
	for _, f := range p.Flush {
		if ferr := f(flushCtx); ferr != nil {
			errs = append(errs, ferr)
		}
	}
	p.Log.Info("shutdown: complete", "phase", "done", "took_ms", time.Since(began).Milliseconds())
	return errors.Join(errs...)
}

func (p Plan) forced() error {
	p.Log.Warn("shutdown: second signal, exiting now", "phase", "forced_exit")
	p.EndRemaining()
	_ = p.Server.Close()
	return ErrForced
}
