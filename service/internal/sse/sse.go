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
	data []byte
	name []byte
}

// readers recycles Readers: a gateway opens one per upstream stream, and their buffers would
// otherwise be most of the garbage a stream makes.
var readers = sync.Pool{New: func() any {
	return &Reader{r: bufio.NewReaderSize(nil, 4<<10)} // events are small; long lines still fit (see readLine)
}}

// NewReader reads events from r. Release gives the Reader back when the stream is done.
func NewReader(r io.Reader) *Reader {
	rd := readers.Get().(*Reader)
	rd.r.Reset(r)
	return rd
}

// Release recycles the Reader. Neither it nor the data of any event it returned may be used
// afterwards.
func (r *Reader) Release() {
	r.r.Reset(nil)
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
