package store

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is a minute before today's UTC midnight: the budget scenarios cross it, and Redis expires
// the period keys only after that (relative to its own clock).
var t0 = time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour - time.Minute)

// step is one call of a scenario: a reservation at an offset from t0, what it must get, and
// whether (and to what) it is settled right after.
type step struct {
	at      time.Duration
	tokens  int64
	nano    int64
	denied  Denial
	settle  bool
	used    int64 // tokens actually used when settled
	usedUSD int64
}

var scenarios = []struct {
	name   string
	limits Limits
	steps  []step
}{
	{"requests burst up to the limit, then one per interval", Limits{RPM: 3}, []step{
		{denied: Admitted}, {denied: Admitted}, {denied: Admitted}, {denied: Requests},
		{at: 20 * time.Second, denied: Admitted}, {at: 20 * time.Second, denied: Requests},
	}},
	{"tokens reserve the estimate and settle refunds the rest", Limits{TPM: 1000}, []step{
		{tokens: 800, settle: true, used: 100}, {tokens: 800, denied: Admitted}, {tokens: 200, denied: Tokens},
		{at: 12 * time.Second, tokens: 200, denied: Admitted},
	}},
	{"a limit of a billion a minute times a unit in 60 ns", Limits{TPM: 1e9}, []step{
		{tokens: 999_999_999, denied: Admitted}, {tokens: 10, denied: Tokens}, {at: time.Second, tokens: 10, denied: Admitted},
	}},
	{"parallel slots come back on settle", Limits{MaxParallel: 1}, []step{
		{denied: Admitted}, {denied: Parallel}, {denied: Parallel, settle: true}, {denied: Admitted},
	}},
	{"a daily budget counts reservations and settles to the real cost", Limits{DailyNanoUSD: 1000}, []step{
		{nano: 600, settle: true, usedUSD: 100}, {nano: 600, denied: Admitted}, {nano: 400, denied: DailyBudget},
		{nano: 300, denied: Admitted},
	}},
	{"the daily budget resets at 00:00 UTC, the monthly one on the 1st", Limits{DailyNanoUSD: 1000, MonthlyNanoUSD: 1500}, []step{
		{nano: 1000, denied: Admitted}, {nano: 1, denied: DailyBudget},
		{at: time.Minute, nano: 500, denied: Admitted}, {at: time.Minute, nano: 1, denied: MonthlyBudget},
	}},
}

// run plays every scenario against a store (a fresh key per scenario).
func run(t *testing.T, s Store, prefix string) {
	ctx := context.Background()
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			key := prefix + strconv.Itoa(i)
			for j, st := range sc.steps {
				r := Reservation{Key: key, Limits: sc.limits, Tokens: st.tokens, NanoUSD: st.nano, Now: t0.Add(st.at)}
				v, err := s.Reserve(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if v.Denied != st.denied {
					t.Fatalf("step %d: got %q, want %q (%+v)", j, v.Denied, st.denied, v)
				}
				if v.Denied != Admitted && v.RetryAfter <= 0 {
					t.Fatalf("step %d: a denial without Retry-After", j)
				}
				if st.settle {
					if err := s.Settle(ctx, Settlement{Reservation: r, Tokens: st.used, NanoUSD: st.usedUSD}); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

func TestMemory(t *testing.T) {
	run(t, NewMemory(func() time.Time { return t0 }), "m")
}

func TestRedis(t *testing.T) {
	r := startRedis(t)
	run(t, r, fmt.Sprintf("r%d-", time.Now().UnixNano()))
}

// TestRedisCluster: the scenarios and the bytes on a three-node Redis Cluster, whose keys the
// client spreads over the nodes by slot (a script's keys share one, by their hash tag).
func TestRedisCluster(t *testing.T) {
	r, ports := startRedisCluster(t)
	prefix := fmt.Sprintf("c%d-", time.Now().UnixNano())
	run(t, r, prefix)
	ctx := context.Background()
	for i := range 30 {
		k := prefix + "bytes" + strconv.Itoa(i)
		if err := r.Set(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := r.Get(ctx, k); err != nil || !ok || string(v) != k {
			t.Fatalf("get %s: %q %v %v", k, v, ok, err)
		}
	}
	holding := 0
	for _, p := range ports {
		out, err := exec.Command("redis-cli", "-p", p, "dbsize").Output()
		if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("the keys are on %d of 3 nodes: not spread by slot", holding)
	}
}

func TestRemainingAndReset(t *testing.T) {
	m := NewMemory(time.Now)
	v, _ := m.Reserve(context.Background(), Reservation{Key: "k", Limits: Limits{RPM: 60, TPM: 600, DailyNanoUSD: 10}, Tokens: 60, NanoUSD: 4, Now: t0})
	want := Verdict{RemainingRequests: 59, ResetRequests: time.Second, RemainingTokens: 540, ResetTokens: 6 * time.Second,
		RemainingDailyNanoUSD: 6, RemainingMonthlyNanoUSD: -1}
	if v != want {
		t.Fatalf("got %+v, want %+v", v, want)
	}
}

func TestBytes(t *testing.T) {
	now := t0
	stores := map[string]Bytes{"memory": NewMemory(func() time.Time { return now })}
	if testing.Short() == false {
		stores["redis"] = startRedis(t)
	}
	ctx := context.Background()
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			if err := s.Set(ctx, "a", []byte("x"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "a"); err != nil || !ok || string(v) != "x" {
				t.Fatalf("get: %q %v %v", v, ok, err)
			}
			if err := s.Delete(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, "a"); ok {
				t.Fatal("deleted value still there")
			}
		})
	}
	m := stores["memory"]
	_ = m.Set(ctx, "e", []byte("x"), time.Second)
	now = now.Add(time.Second)
	if _, ok, _ := m.Get(ctx, "e"); ok {
		t.Fatal("expired value still there")
	}
}

// startRedis runs Debian's redis-server on a free loopback port for the test.
func startRedis(t testing.TB) *Redis {
	t.Helper()
	port := startRedisServer(t)
	r, err := NewRedis("redis://127.0.0.1:"+port, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	waitFor(t, "redis-server to answer", func() bool { return r.c.Ping(context.Background()).Err() == nil })
	return r
}

// startRedisCluster runs a Redis Cluster of three masters (redis-cli --cluster create) and
// returns a client of it, with the ports of its nodes.
func startRedisCluster(t testing.TB) (*Redis, []string) {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not on PATH (go tool task tools:redis installs it)")
	}
	dir := t.TempDir()
	var ports, addrs []string
	for range 3 {
		p := startRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes-"+strconv.Itoa(len(ports))+".conf", "--dir", dir)
		ports, addrs = append(ports, p), append(addrs, "127.0.0.1:"+p)
	}
	for _, p := range ports {
		waitFor(t, "cluster node "+p+" to answer", func() bool { return exec.Command("redis-cli", "-p", p, "ping").Run() == nil })
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, p := range ports {
		waitFor(t, "cluster node "+p+" to see every slot", func() bool {
			out, err := exec.Command("redis-cli", "-p", p, "cluster", "info").Output()
			return err == nil && strings.Contains(string(out), "cluster_state:ok")
		})
	}
	r, err := NewRedisCluster("redis://"+addrs[0]+"?addr="+addrs[1]+"&addr="+addrs[2], time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, ports
}

// startRedisServer runs Debian's redis-server on a free loopback port, without persistence,
// until the test ends; it returns the port.
func startRedisServer(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH (go tool task tools:redis installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return port
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
