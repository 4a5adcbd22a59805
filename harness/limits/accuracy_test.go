package limits

import (
	"aiservice/harness/launch"
	"fmt"
	"math"
	"testing"
)

// TestAccuracy: 200 concurrent clients on one key, against three replicas sharing one Redis,
// three sharing a Redis Cluster of three masters (store.cluster), and one replica with its
// embedded store. Admitted requests never pass the limit
// (plus what the window refilled while the test ran); spend never passes the budget by more
// than one in-flight request per replica.
func TestAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		store    string // "", "redis" or "cluster"
	}{{"3 replicas sharing redis", 3, "redis"}, {"3 replicas sharing a redis cluster", 3, "cluster"}, {"1 replica, embedded store", 1, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			// Accuracy is the store's: a generous timeout and fail_closed keep the local
			// fallback (fail_open's limit ÷ replicas, on top of the store) out of the count on
			// a loaded machine; the fault tests cover the failure modes.
			const shared = "store: {url: %q, cluster: %v, replicas: %d, timeout: 2s, failure_mode: fail_closed}"
			store := ""
			switch tc.store {
			case "redis":
				store = fmt.Sprintf(shared, launch.StartRedis(t, false).URL(), false, tc.replicas)
			case "cluster":
				store = fmt.Sprintf(shared, launch.StartRedisCluster(t).URL(), true, tc.replicas)
			}
			urls := urlsOf(replicas(t, tc.replicas, config(store)))

			t.Run("requests per minute", func(t *testing.T) {
				o := load(t, urls, rpmKey, 200, 2)
				refill := int(math.Ceil(o.elapsed.Minutes() * rpmLimit))
				admitted := o.status[200]
				t.Logf("admitted %d of 400 (limit %d + %d refilled in %v); 429: %d", admitted, rpmLimit, refill, o.elapsed, o.status[429])
				if admitted > rpmLimit+refill || admitted < rpmLimit {
					t.Fatalf("admitted %d, want %d to %d: %v", admitted, rpmLimit, rpmLimit+refill, o.status)
				}
				if o.status[200]+o.status[429] != 400 || o.codes["rate_limit_exceeded"] != o.status[429] {
					t.Fatalf("answers other than 200 and 429 rate_limit_exceeded: %v %v", o.status, o.codes)
				}
			})
			t.Run("daily budget", func(t *testing.T) {
				o := load(t, urls, budgetKey, 200, 1)
				bound := budgetUSD + float64(tc.replicas)*perRequest
				t.Logf("admitted %d of 200, spent $%.6f of a $%v budget (overshoot $%.6f; bound $%.6f)",
					o.status[200], o.spentUSD, budgetUSD, max(o.spentUSD-budgetUSD, 0), bound)
				if o.spentUSD > bound+1e-9 || o.status[200] == 0 {
					t.Fatalf("spent $%v, bound $%v: %v", o.spentUSD, bound, o.status)
				}
				if o.status[200]+o.status[429] != 200 || o.codes["budget_exceeded"] != o.status[429] {
					t.Fatalf("answers other than 200 and 429 budget_exceeded: %v %v", o.status, o.codes)
				}
			})
		})
	}
}
