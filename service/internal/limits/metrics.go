package limits

import (
	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/store"
)

type metrics struct {
	keys map[string]*keyMetrics
}

// keyMetrics are one key's children, resolved at start: the label set is the configured keys.
type keyMetrics struct {
	admitted, reserved, used, spent, cut prometheus.Counter
	limited                              *prometheus.CounterVec
	daily, monthly                       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, names []string) *metrics {
	admitted := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_admitted_total",
		Help: "Requests of a limited key admitted, by key."}, []string{"key"})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_limited_total",
		Help: "Requests of a key refused by one of its own limits (429), by key and limit."}, []string{"key", "limit"})
	reserved := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_tokens_reserved_total",
		Help: "Tokens reserved before forwarding (the estimate), by key."}, []string{"key"})
	used := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_tokens_used_total",
		Help: "Tokens the settled requests really used, by key."}, []string{"key"})
	spent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_spend_usd_total",
		Help: "USD the settled requests of a key cost, by key."}, []string{"key"})
	cut := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "limits_streams_cut_total",
		Help: "Streams cut because they crossed their key's budget, by key."}, []string{"key"})
	remaining := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "limits_budget_remaining_usd",
		Help: "What a key's budget had left at its last request (reservations in flight counted), by key and period."}, []string{"key", "period"})
	reg.MustRegister(admitted, limited, reserved, used, spent, cut, remaining)
	m := &metrics{keys: map[string]*keyMetrics{}}
	for _, n := range names {
		km := &keyMetrics{admitted: admitted.WithLabelValues(n), reserved: reserved.WithLabelValues(n),
			used: used.WithLabelValues(n), spent: spent.WithLabelValues(n), cut: cut.WithLabelValues(n),
			limited: limited.MustCurryWith(prometheus.Labels{"key": n}),
			daily:   remaining.WithLabelValues(n, "day"), monthly: remaining.WithLabelValues(n, "month")}
		for _, l := range []store.Denial{store.Parallel, store.Requests, store.Tokens, store.DailyBudget, store.MonthlyBudget} {
			km.limited.WithLabelValues(string(l))
		}
		m.keys[n] = km
	}
	return m
}

// key is a key's metrics; every limited key is configured, so it is always there.
func (m *metrics) key(name string) *keyMetrics { return m.keys[name] }

// budget publishes what the budgets have left.
func (km *keyMetrics) budget(v store.Verdict) {
	if v.RemainingDailyNanoUSD >= 0 {
		km.daily.Set(float64(v.RemainingDailyNanoUSD) / 1e9)
	}
	if v.RemainingMonthlyNanoUSD >= 0 {
		km.monthly.Set(float64(v.RemainingMonthlyNanoUSD) / 1e9)
	}
}
