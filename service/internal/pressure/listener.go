package pressure

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fdRefusal is the body of the answer to a connection accepted without a descriptor to serve
// it, in OpenAI's error shape like every other error.
const fdRefusal = `{"error":{"message":"The server is out of file descriptors; retry shortly or on another instance.",` +
	`"type":"service_unavailable","code":"too_many_open_files"}}`

// FDGuard is a listener that answers new connections with a 503 while the process is out of
// file descriptors. Without it, accept(2) fails with EMFILE, the connection stays in the
// kernel's backlog and its client waits, for as long as the descriptors stay taken, for an
// answer that does not come. FDGuard holds one spare descriptor: on EMFILE it gives the spare
// up, accepts the waiting connection with it, writes the refusal, closes, and takes the spare
// back. One refusal is in progress at a time; while it is, Accept returns the EMFILE and
// net/http's own accept back-off (5 ms doubling to 1 s) applies, so nothing spins.
type FDGuard struct {
	net.Listener
	mu      sync.Mutex
	spare   *os.File // nil while a refusal holds its descriptor, or when none could be opened
	refused prometheus.Counter
}

// NewFDGuard wraps ln and registers its counter (when reg is set). Without a spare descriptor
// (none could be opened) it behaves as ln does.
func NewFDGuard(ln net.Listener, reg prometheus.Registerer) *FDGuard {
	g := &FDGuard{Listener: ln, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "connections_refused_no_fd_total",
		Help: "New connections answered 503 and closed because the process was out of file descriptors.",
	})}
	g.spare, _ = os.Open(os.DevNull)
	if reg != nil {
		reg.MustRegister(g.refused)
	}
	return g
}

// Accept returns the next connection the process has a descriptor for.
func (g *FDGuard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err == nil || !outOfFDs(err) || !g.refuseOne() {
			return c, err
		}
	}
}

// Close closes the listener and the spare.
func (g *FDGuard) Close() error {
	g.mu.Lock()
	spare := g.spare
	g.spare = nil
	g.mu.Unlock()
	if spare != nil {
		_ = spare.Close()
	}
	return g.Listener.Close()
}

// refuseOne accepts one waiting connection on the spare's descriptor and answers it in the
// background; false when there is no spare or the freed descriptor was taken by someone else.
func (g *FDGuard) refuseOne() bool {
	g.mu.Lock()
	spare := g.spare
	g.spare = nil
	g.mu.Unlock()
	if spare == nil {
		// A refusal holds it, or it could not be reopened: one may be free again by now.
		var err error
		if spare, err = os.Open(os.DevNull); err != nil {
			return false
		}
	}
	_ = spare.Close()
	c, err := g.Listener.Accept()
	if err != nil {
		g.takeSpare()
		return false
	}
	g.refused.Inc()
	go func() {
		refuse(c)
		g.takeSpare()
	}()
	return true
}

// refuse writes the 503 and closes the connection. The write side is shut first and what the
// client sent is read away (within a second and 64 KiB): closing with unread data would reset
// the connection, and the client could lose the answer.
func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	head := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(fdRefusal)) + "\r\n\r\n"
	if _, err := io.WriteString(c, head+fdRefusal); err == nil {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
	_ = c.Close()
}

// takeSpare opens the spare descriptor again (after a refusal, or when it could not be used).
func (g *FDGuard) takeSpare() {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return // still out of descriptors: the next EMFILE tries again
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spare != nil {
		_ = f.Close()
		return
	}
	g.spare = f
}

func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
