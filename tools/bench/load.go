package main

import (
	"bytes"
	"errors"
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
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusTooManyRequests:
		return errRefused
	default:
		return fmt.Errorf("status %d", resp.StatusCode)
	}
}

// bodies hands out request bodies in turn, so a profile's sizes are mixed evenly.
type bodies struct {
	all [][]byte
	i   atomic.Uint64
}

func (b *bodies) next() []byte { return b.all[(b.i.Add(1)-1)%uint64(len(b.all))] }

// closedLoop: n workers send back to back for d; throughput, latency and errors.
func closedLoop(u string, bs *bodies, n int, d time.Duration) (float64, *hdrhistogram.Histogram, *failures) {
	c := newClient(n)
	defer c.CloseIdleConnections()
	for range n { // warm the pool
		_ = post(c, u, bs.next())
	}
	rec := newRecorder()
	var done atomic.Int64
	fails := &failures{}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			shard := rec.shard()
			for time.Now().Before(end) {
				t := time.Now()
				if err := post(c, u, bs.next()); err != nil {
					fails.add(err)
					continue
				}
				rec.record(shard, time.Since(t))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds(), rec.merged(), fails
}

// openLoop sends at a constant rate whatever the answers do; latency is measured from the
// intended send time, so a stall shows up (no coordinated omission).
func openLoop(u string, bs *bodies, rate int, d time.Duration) (*hdrhistogram.Histogram, *failures) {
	c := newClient(256)
	defer c.CloseIdleConnections()
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	rec := newRecorder()
	fails := &failures{}
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
				fails.add(err)
				return
			}
			rec.record(i, time.Since(due))
		})
	}
	wg.Wait()
	return rec.merged(), fails
}

// failures counts failed requests: refused (429, the gateway shedding) apart from the rest.
type failures struct{ refused, errors atomic.Int64 }

func (f *failures) add(err error) {
	if errors.Is(err, errRefused) {
		f.refused.Add(1)
	} else {
		f.errors.Add(1)
	}
}
