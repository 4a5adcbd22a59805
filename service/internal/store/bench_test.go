package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkReserveSettle is one request's store work (a reserve and its settle) on each store.
func BenchmarkReserveSettle(b *testing.B) {
	stores := map[string]Store{"memory": NewMemory(time.Now)}
	if r := startRedis(b); r != nil {
		stores["redis"] = r
	}
	lim := Limits{RPM: 1e9, TPM: 1e9, MaxParallel: 1 << 20, DailyNanoUSD: 1 << 60, MonthlyNanoUSD: 1 << 60}
	for name, s := range stores {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				r := Reservation{Key: "bench", Limits: lim, Tokens: 100, NanoUSD: 1000, Now: time.Now()}
				if _, err := s.Reserve(ctx, r); err != nil {
					b.Fatal(err)
				}
				if err := s.Settle(ctx, Settlement{Reservation: r, Tokens: 50, NanoUSD: 500}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
