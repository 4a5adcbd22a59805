package bdd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/cucumber/godog"
)

// probe is a client without keep-alive: every probe opens a new connection, which is what a load
// balancer's health check or a new user would do.
var probe = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (w *world) registerShutdownSteps(sc *godog.ScenarioContext) {
	sc.Step(`^the service is sent (SIGTERM|SIGINT)$`, func(sig string) error {
		p, err := w.process()
		if err != nil {
			return err
		}
		s := syscall.SIGTERM
		if sig == "SIGINT" {
			s = syscall.SIGINT
		}
		return p.Signal(s)
	})
	sc.Step(`^readiness turns to 503 "([^"]*)"$`, func(want string) error {
		p, err := w.service()
		if err != nil {
			return err
		}
		return poll(2*time.Second, func() error {
			resp, err := probe.Get(p.URL + "/readyz")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body struct{ Status string }
			_ = json.Unmarshal(b, &body)
			if resp.StatusCode != http.StatusServiceUnavailable || body.Status != want {
				return fmt.Errorf("readiness %d %s", resp.StatusCode, b)
			}
			if resp.Header.Get("Retry-After") == "" {
				return errors.New("a draining readiness answer should say when to retry")
			}
			return nil
		})
	})
	sc.Step(`^the service still answers health checks$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		resp, err := probe.Get(p.URL + "/healthz")
		if err != nil {
			return fmt.Errorf("liveness during the pre-drain delay: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("liveness %d during the pre-drain delay, want 200", resp.StatusCode)
		}
		return nil
	})
	sc.Step(`^new connections are refused$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		return poll(5*time.Second, func() error {
			c, err := net.DialTimeout("tcp", p.Addr, time.Second)
			if err != nil {
				return nil
			}
			c.Close()
			return errors.New("the service still accepts connections")
		})
	})
	sc.Step(`^the service exits with code (\d+)$`, func(want int) error {
		p, err := w.process()
		if err != nil {
			return err
		}
		code, err := p.Wait(10 * time.Second)
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("exit code %d, want %d\n%s", code, want, p.Logs())
		}
		return nil
	})
	sc.Step(`^the service logged the shutdown phases (.+)$`, func(list string) error {
		p, err := w.process()
		if err != nil {
			return err
		}
		var got []string
		for _, l := range p.LogLines() {
			if ph, ok := l["phase"].(string); ok {
				got = append(got, ph)
			}
		}
		want := splitList(list)
		i := 0
		for _, g := range got {
			if i < len(want) && g == want[i] {
				i++
			}
		}
		if i != len(want) {
			return fmt.Errorf("logged phases %v, want %v in this order", got, want)
		}
		return nil
	})
}
