package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// holdResult is what one path did while n clients kept a paced stream open each.
type holdResult struct {
	held, heldMin float64 // streams open: median and lowest of the samples after the ramp
	refused       int     // 429 answers
	errors        int     // other statuses, transport errors, streams cut before [DONE]
	streams       int     // streams read to [DONE]
	chunks        int     // data events the clients read, from every stream (cut ones too)
	cores         float64 // the path's CPU time over wall time after the ramp
	rss, hwm      float64 // highest VmRSS sampled after the ramp, and VmHWM at the end (MiB)
	firstChunk    *recorder
	gap           *recorder
}

// interval is one answered stream, from its request to its end.
type interval struct{ from, to time.Time }

// hold keeps n clients streaming for d: each opens a stream of paced chunks, reads it to
// [DONE] and opens the next. Clients start spread over one stream's length so the path sees a
// steady load, not a connection storm; figures are taken after that ramp. A refused client
// waits one stream's length before it tries again, as a client backing off would.
func hold(u string, bs *bodies, n, paced int, d, streamLen time.Duration, pid int) holdResult {
	c := newClient(n)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := holdResult{firstChunk: newRecorder(), gap: newRecorder()}
	var refused, errs, streams, chunks atomic.Int64
	var mu sync.Mutex
	var answered []interval
	start := time.Now()
	end := start.Add(streamLen + d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			shard := res.gap.shard()
			var mine []interval
			defer func() { mu.Lock(); answered = append(answered, mine...); mu.Unlock() }()
			if !waitUntil(ctx, start.Add(time.Duration(i)*streamLen/time.Duration(n))) {
				return
			}
			for time.Now().Before(end) {
				s := pacedStream(ctx, c, u, bs.next(), paced)
				chunks.Add(int64(s.chunks))
				if s.answered {
					mine = append(mine, interval{s.sent, time.Now()})
				}
				switch {
				case ctx.Err() != nil:
					return
				case errors.Is(s.err, errRefused):
					refused.Add(1)
					if !waitUntil(ctx, time.Now().Add(streamLen)) {
						return
					}
				case s.err != nil:
					errs.Add(1)
				default:
					streams.Add(1)
					res.firstChunk.record(shard, s.first)
					res.gap.record(shard, s.gaps...)
				}
			}
		})
	}
	var at []time.Time
	at, res.cores, res.rss = sampleHold(start.Add(streamLen), end, pid)
	res.hwm = memoryMiB(pid).hwm
	cancel()
	wg.Wait()
	if open := openAt(at, answered); len(open) > 0 {
		res.held, res.heldMin = median(open), slices.Min(open)
	}
	res.refused, res.errors, res.streams = int(refused.Load()), int(errs.Load()), int(streams.Load())
	res.chunks = int(chunks.Load())
	return res
}

// sampleHold samples RSS every 100 ms from from to end and returns the sample times and the
// path's CPU over that window.
func sampleHold(from, end time.Time, pid int) (at []time.Time, cores, rss float64) {
	waitUntil(context.Background(), from)
	cpu0, t0 := cpuSeconds(pid), time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if now.After(end) {
			break
		}
		at = append(at, now)
		rss = max(rss, memoryMiB(pid).rss)
	}
	return at, (cpuSeconds(pid) - cpu0) / time.Since(t0).Seconds(), rss
}

// openAt counts, at each time, the answered streams open then (from request to end): counted
// afterwards from the intervals, so a client waiting for a 429 never counts as holding one.
func openAt(at []time.Time, streams []interval) []float64 {
	out := make([]float64, len(at))
	for _, s := range streams {
		for i, t := range at {
			if !t.Before(s.from) && t.Before(s.to) {
				out[i]++
			}
		}
	}
	return out
}

func waitUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

var errRefused = errors.New("refused (429)")

// streamRun is one stream as the client saw it.
type streamRun struct {
	sent     time.Time
	answered bool // status 200
	first    time.Duration
	gaps     []time.Duration
	chunks   int // data events read
	err      error
}

// pacedStream sends one streaming request and reads it to [DONE]: the time to the first chunk
// and the gaps between its first paced chunks (the finish and usage chunks that follow the last
// one come at once, by design).
func pacedStream(ctx context.Context, c *http.Client, u string, body []byte, paced int) streamRun {
	s := streamRun{sent: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		s.err = err
		return s
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		_, _ = io.Copy(io.Discard, resp.Body)
		s.err = errRefused
		return s
	default:
		s.err = fmt.Errorf("status %d", resp.StatusCode)
		return s
	}
	s.answered = true
	s.gaps = make([]time.Duration, 0, paced)
	last := s.sent
	br := bufio.NewReader(resp.Body)
	s.err = readSSE(br, func() {
		now := time.Now()
		switch {
		case s.first == 0:
			s.first = now.Sub(s.sent)
		case len(s.gaps) < paced-1:
			s.gaps = append(s.gaps, now.Sub(last))
		}
		last = now
		s.chunks++
	})
	// Read on to the end of the response so the connection goes back to the pool: closing it
	// unread would cost every path a new connection per stream, and the path would see the
	// client vanish after each [DONE].
	_, _ = io.Copy(io.Discard, br)
	return s
}

var errNoDone = errors.New("stream ended without [DONE]")

// readSSE calls onData for each data event until [DONE]. It looks at line prefixes only: at
// thousands of streams the load generator shares the cores with what it measures, so it does
// not decode the chunks.
func readSSE(br *bufio.Reader, onData func()) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return errNoDone
			}
			return fmt.Errorf("read stream: %w", err)
		}
		if !bytes.HasPrefix(line, []byte("data:")) {
			continue
		}
		if bytes.HasPrefix(bytes.TrimSpace(line[5:]), []byte("[DONE]")) {
			return nil
		}
		onData()
	}
}
