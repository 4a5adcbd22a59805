// Package sse reads and writes Server-Sent Events as OpenAI streams use them: `data: {json}`
// events, an optional `event:` name, and a final `data: [DONE]`.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Done is the data of OpenAI's end-of-stream sentinel.
var Done = []byte("[DONE]")

// MaxEventBytes bounds one event, so a hostile upstream cannot grow memory without limit.
const MaxEventBytes = 1 << 20

// ErrEventTooLarge is returned when an event exceeds MaxEventBytes.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one parsed event. Data is only valid until the next call to Next.
type Event struct {
	Name string
	Data []byte
}

// Reader parses events incrementally from a stream.
type Reader struct {
	r    *bufio.Reader
	src  dataClock
	data []byte
	name []byte
}

// readers recycles Readers: a gateway opens one per upstream stream, and their buffers would
// otherwise be most of the garbage a stream makes.
var readers = sync.Pool{New: func() any {
	rd := &Reader{r: bufio.NewReaderSize(nil, 4<<10)} // events are small; long lines still fit (see readLine)
	rd.r.Reset(&rd.src)
	return rd
}}

// NewReader reads events from r. Release gives the Reader back when the stream is done.
func NewReader(r io.Reader) *Reader {
	rd := readers.Get().(*Reader)
	rd.src.reset(r)
	rd.r.Reset(&rd.src)
	return rd
}

// LastData is when bytes of a `data:` line last arrived from the source (zero before any): a
// stream's time limits read it, so that comments (`: keep-alive`) and other fields do not count
// as progress, while a long event that trickles in still does. Safe to call concurrently with
// Next.
func (r *Reader) LastData() time.Time {
	if ns := r.src.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// AfterData reports whether the bytes the source last delivered (blank lines aside) were part
// of a `data:` line (false before any). A caller that also sees bytes arrive below the source —
// in an HTTP/1.1 chunk not yet complete — may count them as progress only then: before any
// data, or after a comment, bytes still in transit may be more comments. Safe to call
// concurrently with Next.
func (r *Reader) AfterData() bool { return r.src.afterData.Load() }

// Release recycles the Reader. Neither it nor the data of any event it returned may be used
// afterwards.
func (r *Reader) Release() {
	r.src.reset(nil)
	r.r.Reset(&r.src)
	if cap(r.data) > 64<<10 { // do not keep what one huge event grew
		r.data = nil
	}
	r.data, r.name = r.data[:0], r.name[:0]
	readers.Put(r)
}

// Next returns the next event with data. It returns io.EOF at a clean end (no partial event)
// and io.ErrUnexpectedEOF when the stream stops inside an event.
func (r *Reader) Next() (Event, error) {
	r.data = r.data[:0]
	r.name = r.name[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if hasData || len(line) > 0 {
					return Event{}, io.ErrUnexpectedEOF
				}
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		if len(line) == 0 { // blank line: dispatch
			if hasData {
				return Event{Name: string(r.name), Data: r.data}, nil
			}
			r.name = r.name[:0]
			continue
		}
		if line[0] == ':' { // comment / keep-alive
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > MaxEventBytes {
				return Event{}, ErrEventTooLarge
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		}
	}
}

// Buffered reports whether a whole next event is already read and waiting, so Next will not
// wait on the network for it.
func (r *Reader) Buffered() bool {
	n := r.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.r.Peek(n)
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n"))
}

// readLine returns one line without its terminator (\n, \r\n).
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A long line: accumulate up to the event cap.
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > MaxEventBytes {
				return nil, ErrEventTooLarge
			}
			line, err = r.r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return bytes.TrimRight(line, "\r\n"), io.EOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// dataClock passes a source through and notes when bytes of a `data:` line go by. It follows
// line starts across reads: only the first five bytes of a line say whether it is data.
type dataClock struct {
	r    io.Reader
	last atomic.Int64 // unix nanoseconds
	// afterData: the last bytes delivered (blank lines aside) were of a data line.
	afterData atomic.Bool
	head      [5]byte // the start of the current line, until it tells its field
	n         int     // bytes in head
	inLine    bool    // inside a line (past its first byte)
	isData    bool    // the current line is a data line (valid once n == len(head) or decided)
	known     bool    // the current line's kind is decided
}

var dataField = []byte("data:")

func (c *dataClock) reset(r io.Reader) {
	c.r, c.n, c.inLine, c.isData, c.known = r, 0, false, false, false
	c.last.Store(0) // a recycled Reader starts with no data seen
	c.afterData.Store(false)
}

func (c *dataClock) Read(b []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	// Small reads: an HTTP/1.1 chunked body returns only when b is full or the chunk ends, so
	// a large chunk on a slow link is seen (and classified) a KiB at a time, not 4 KiB.
	n, err := c.r.Read(b[:min(len(b), readStep)])
	data, tail := c.scan(b[:n])
	if data {
		c.last.Store(time.Now().UnixNano())
	}
	if tail != lineUnknown {
		c.afterData.Store(tail == lineData)
	}
	return n, err
}

// readStep bounds one read from the source (see dataClock.Read).
const readStep = 1 << 10

// Kinds of line, as far as the bytes seen tell.
const (
	lineUnknown = iota // blank, or too short yet to tell
	lineData
	lineOther // a comment or another field
)

// scan follows the line structure of b and reports whether any of it is data-line bytes, and
// the kind of the last line in b whose kind is known.
func (c *dataClock) scan(b []byte) (data bool, tail int) {
	for len(b) > 0 {
		if !c.inLine {
			if b[0] == '\n' || b[0] == '\r' { // blank lines only dispatch
				b = b[1:]
				continue
			}
			c.inLine, c.n, c.known, c.isData = true, 0, false, false
		}
		end := bytes.IndexByte(b, '\n')
		line := b
		if end >= 0 {
			line = b[:end]
		}
		if !c.known {
			c.n += copy(c.head[c.n:], line)
			h := c.head[:c.n]
			switch {
			case bytes.Equal(h, dataField), end >= 0 && bytes.Equal(bytes.TrimRight(h, "\r"), dataField[:4]):
				c.known, c.isData = true, true // "data" alone is a data field too
			case end >= 0 || !bytes.HasPrefix(dataField, h):
				c.known = true
			}
		}
		if c.known {
			data = data || c.isData
			tail = lineOther
			if c.isData {
				tail = lineData
			}
		}
		if end < 0 {
			break
		}
		c.inLine = false
		b = b[end+1:]
	}
	return data, tail
}

// Flusher is what an http.ResponseWriter offers to push bytes to the client at once.
type Flusher interface{ Flush() }

// Writer writes events to one stream, reusing its buffer from event to event.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter writes events to w (flushed after each event when w is a Flusher).
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Data writes one `data:` event and flushes it.
func (w *Writer) Data(data []byte) error { return w.write("", data, true) }

// DataLater writes one `data:` event without flushing: for when the next event is already at
// hand, so both go out in one write.
func (w *Writer) DataLater(data []byte) error { return w.write("", data, false) }

// Event writes a named event and flushes it.
func (w *Writer) Event(name string, data []byte) error { return w.write(name, data, true) }

// EventLater writes a named event without flushing (DataLater with a name).
func (w *Writer) EventLater(name string, data []byte) error { return w.write(name, data, false) }

// Done writes the `[DONE]` sentinel and flushes it.
func (w *Writer) Done() error { return w.write("", Done, true) }

// Last writes a stream's final event (the `[DONE]` sentinel, or an error event) without
// flushing. An HTTP handler that ends with it has the server send it when the handler and its
// middleware return, so whatever they record (cost, metrics, spans) is in place before the
// client can see that the stream has ended.
func (w *Writer) Last(name string, data []byte) error {
	return w.write(name, data, false)
}

func (w *Writer) write(name string, data []byte, flush bool) error {
	w.buf = appendEvent(w.buf[:0], name, data)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("sse write: %w", err)
	}
	if f, ok := w.w.(Flusher); ok && flush {
		f.Flush()
	}
	return nil
}

// WriteData writes one `data:` event to w and flushes it.
func WriteData(w io.Writer, data []byte) error { return NewWriter(w).Data(data) }

// WriteEvent writes a named event to w and flushes it.
func WriteEvent(w io.Writer, name string, data []byte) error { return NewWriter(w).Event(name, data) }

// WriteDone writes the `[DONE]` sentinel to w.
func WriteDone(w io.Writer) error { return NewWriter(w).Done() }

// appendEvent formats one event: one Write per event keeps a chunk in one TCP segment where
// it fits.
func appendEvent(buf []byte, name string, data []byte) []byte {
	if name != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	return append(buf, '\n', '\n')
}
