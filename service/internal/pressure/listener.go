package pressure

import (
	"bufio"
	"bytes"
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
// back, all before it accepts again, so the freed descriptor goes back to the spare rather than
// to the next connection. When no spare can be had, Accept returns the EMFILE and net/http's
// own accept back-off (5 ms doubling to 1 s) applies: nothing spins.
type FDGuard struct {
	net.Listener
	mu      sync.Mutex // guards spare against Close, which may come from another goroutine
	spare   *os.File   // nil when none could be opened
	refused prometheus.Counter
}

// How long one refusal may hold up accepting: a client that does not send its request delays
// the ones behind it by headTime at most; one that neither sends more nor closes after the
// answer, by lingerTime.
const (
	headTime   = 250 * time.Millisecond
	lingerTime = 50 * time.Millisecond
)

// NewFDGuard wraps ln and registers its counter (when reg is set).
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
	g.swapSpare(nil)
	return g.Listener.Close()
}

// refuseOne answers one waiting connection on the spare's descriptor; false when there is
// no descriptor to give up, or the freed one was taken by someone else first.
func (g *FDGuard) refuseOne() bool {
	if g.swapSpare(nil) == nil {
		// The last refusal could not take its spare back; one may be free by now.
		f, err := os.Open(os.DevNull)
		if err != nil {
			return false
		}
		_ = f.Close()
	}
	defer func() {
		if f, err := os.Open(os.DevNull); err == nil {
			g.swapSpare(f)
		}
	}()
	c, err := g.Listener.Accept()
	if err != nil {
		return false
	}
	g.refused.Inc()
	refuse(c)
	return true
}

// swapSpare puts f in place of the spare, closes the one it replaces and returns it (nil if
// there was none).
func (g *FDGuard) swapSpare(f *os.File) *os.File {
	g.mu.Lock()
	old := g.spare
	g.spare = f
	g.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return old
}

// refuse reads the request's head, writes the 503 and closes the connection. The head comes
// first: a client gets confused by an answer to a request it has not sent yet. Then the write
// side is shut and the rest of what the client sent is read away (64 KiB in all at most):
// closing with unread data would reset the connection, and the client could lose the answer.
// A client that keeps the connection open after the answer is cut off after lingerTime.
func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(headTime))
	in := bufio.NewReader(io.LimitReader(c, 64<<10))
	for {
		line, err := in.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			_ = c.Close()
			return
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	head := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(fdRefusal)) + "\r\n\r\n"
	if _, err := io.WriteString(c, head+fdRefusal); err == nil {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, in)
	}
	_ = c.Close()
}

func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
