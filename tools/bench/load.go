package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func newClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 16, MaxIdleConns: n + 16,
		IdleConnTimeout: time.Minute, DisableCompression: true}}
}

func post(c *http.Client, u string, body []byte) error {
	resp, err := c.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// bodies hands out request bodies in turn, so a profile's sizes are mixed evenly.
type bodies struct {
	all [][]byte
	i   atomic.Uint64
}

func (b *bodies) next() []byte { return b.all[(b.i.Add(1)-1)%uint64(len(b.all))] }

// closedLoop: n workers send back to back for d; throughput, latency and errors.
func closedLoop(u string, bs *bodies, n int, d time.Duration) (float64, *hdrhistogram.Histogram, int) {
	c := newClient(n)
	defer c.CloseIdleConnections()
	for range n { // warm the pool
		_ = post(c, u, bs.next())
	}
	rec := newRecorder()
	var done, errs atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			shard := rec.shard()
			for time.Now().Before(end) {
				t := time.Now()
				if err := post(c, u, bs.next()); err != nil {
					errs.Add(1)
					continue
				}
				rec.record(shard, time.Since(t))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds(), rec.merged(), int(errs.Load())
}

// openLoop sends at a constant rate whatever the answers do; latency is measured from the
// intended send time, so a stall shows up (no coordinated omission).
func openLoop(u string, bs *bodies, rate int, d time.Duration) (*hdrhistogram.Histogram, int) {
	c := newClient(256)
	defer c.CloseIdleConnections()
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	rec := newRecorder()
	var errs atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2048)
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		body := bs.next()
		wg.Go(func() {
			defer func() { <-sem }()
			if err := post(c, u, body); err != nil {
				errs.Add(1)
				return
			}
			rec.record(i, time.Since(due))
		})
	}
	wg.Wait()
	return rec.merged(), int(errs.Load())
}
