package shutdown

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Conns tracks connections that were opened but have not sent a request yet. http.Server's
// Shutdown waits up to 5 s for such connections — which load balancers and HTTP clients open
// ahead of need — so every drain would otherwise run out its time. At the drain they get a
// short read deadline: a request already on its way still arrives, an idle one is closed.
type Conns struct {
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
}

// NewConns returns an empty tracker; install Track as http.Server.ConnState.
func NewConns() *Conns { return &Conns{fresh: map[net.Conn]struct{}{}} }

// Track is an http.Server ConnState hook.
func (c *Conns) Track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	if state == http.StateNew {
		c.fresh[conn] = struct{}{}
	} else {
		delete(c.fresh, conn)
	}
	c.mu.Unlock()
}

// ExpireFresh gives every connection that has not sent a request until grace to do so.
func (c *Conns) ExpireFresh(grace time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.fresh {
		_ = conn.SetReadDeadline(time.Now().Add(grace))
	}
	return len(c.fresh)
}
