package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The gateway paths run the shipped defaults: their config names the upstream and the
// telemetry that defines the path, and only the labelled tuned path changes anything else.
func TestGatewayYAMLKeepsTheDefaults(t *testing.T) {
	for _, v := range gatewayVariants(20000, "") {
		t.Run(v.name, func(t *testing.T) {
			y := gatewayYAML(v, "127.0.0.1:9", "http://127.0.0.1:4318")
			var top []string
			for _, l := range strings.Split(strings.TrimSpace(y), "\n") {
				if !strings.HasPrefix(l, " ") {
					top = append(top, strings.SplitN(l, ":", 2)[0])
				}
			}
			want := "providers models telemetry"
			if v.name == "gateway-tuned" {
				want += " resilience"
			}
			if got := strings.Join(top, " "); got != want {
				t.Errorf("sections %q, want %q:\n%s", got, want, y)
			}
			if !strings.Contains(y, "base_url: http://127.0.0.1:9/v1") {
				t.Errorf("the upstream is not the override:\n%s", y)
			}
			if exports := strings.Contains(y, "otlp_endpoint"); exports != v.export {
				t.Errorf("exports %v, want %v", exports, v.export)
			}
		})
	}
}

func TestMeasureHeldSkipsWhatTheFDLimitCannotHold(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Max > 1<<40 {
		t.Skip("no hard limit")
	}
	n := int(l.Max) // a gateway would need 2n descriptors
	o := options{levels: []int{n}, holdRounds: 1, chunks: 1, chunkGap: time.Millisecond, hold: time.Millisecond}
	res := newProfileResult("paced-streams", nil)
	measureHeld(o, profile{name: "paced-streams", bodies: realisticBodies(true)}, nil, res)
	if why := res.Skipped[strconv.Itoa(n)]; !strings.Contains(why, "RLIMIT_NOFILE") {
		t.Errorf("level %d: skipped %q, want the limit named", n, why)
	}
	if len(res.Samples) != 0 {
		t.Errorf("figures for a level that was not measured: %v", res.Samples)
	}
}
