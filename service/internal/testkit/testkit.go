// Package testkit holds helpers shared by the service's tests (never imported by product code).
package testkit

import (
	"testing"
	"time"
)

// Bounded runs fn and fails the test if it has not returned within d: a fuzz input must
// neither panic nor hang a decoder.
func Bounded(t testing.TB, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("no result after %v", d)
	}
}
