package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type event struct{ name, data string }

// readAll reads events until an error and returns them with that error.
func readAll(r io.Reader) ([]event, error) {
	rd := NewReader(r)
	var out []event
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, event{ev.Name, string(ev.Data)})
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []event
		wantErr error
	}{
		{"one event", "data: {\"a\":1}\n\n", []event{{"", `{"a":1}`}}, io.EOF},
		{"no space after the colon", "data:x\n\n", []event{{"", "x"}}, io.EOF},
		{"only one leading space is stripped", "data:  x\n\n", []event{{"", " x"}}, io.EOF},
		{"multi-line data joins with newlines", "data: a\ndata: b\ndata:\n\n", []event{{"", "a\nb\n"}}, io.EOF},
		{"comments are skipped", ": keep-alive\ndata: x\n: another\n\n", []event{{"", "x"}}, io.EOF},
		{"CRLF line ends", "event: e\r\ndata: x\r\n\r\ndata: y\r\n\r\n", []event{{"e", "x"}, {"", "y"}}, io.EOF},
		{"event names", "event: error\ndata: {\"error\":{}}\n\ndata: plain\n\n",
			[]event{{"error", `{"error":{}}`}, {"", "plain"}}, io.EOF},
		{"a name without data is dropped with its block", "event: ping\n\ndata: x\n\n", []event{{"", "x"}}, io.EOF},
		{"unknown fields are ignored", "id: 7\nretry: 100\ndata: x\n\n", []event{{"", "x"}}, io.EOF},
		// The spec: a line without a colon is a field name with an empty value.
		{"a field without a colon has an empty value", "data\ndata: x\n\n", []event{{"", "\nx"}}, io.EOF},
		{"[DONE]", "data: {}\n\ndata: [DONE]\n\n", []event{{"", "{}"}, {"", "[DONE]"}}, io.EOF},
		{"blank lines between events", "\n\n\ndata: x\n\n\n\n", []event{{"", "x"}}, io.EOF},
		{"empty stream", "", nil, io.EOF},
		{"partial event at EOF", "data: {}\n\ndata: {\"a\"", []event{{"", "{}"}}, io.ErrUnexpectedEOF},
		{"event without its blank line at EOF", "data: x\n", nil, io.ErrUnexpectedEOF},
		{"half a field name at EOF", "da", nil, io.ErrUnexpectedEOF},
		{"a trailing comment without newline", "data: x\n\n: ping", []event{{"", "x"}}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []struct {
				name string
				wrap func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				// One byte at a time: the parser must not depend on how the network splits data.
				{"bytewise", iotest.OneByteReader},
			} {
				got, err := readAll(mode.wrap(strings.NewReader(tc.in)))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: error %v, want %v", mode.name, err, tc.wantErr)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%s: events %q, want %q", mode.name, got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("%s: events %q, want %q", mode.name, got, tc.want)
					}
				}
			}
		})
	}
}

func TestReaderEventTooLarge(t *testing.T) {
	big := strings.Repeat("x", MaxEventBytes+1)
	for _, tc := range []struct{ name, in string }{
		{"one long line", "data: " + big + "\n\n"},
		{"many lines", strings.Repeat("data: "+strings.Repeat("y", 64<<10)+"\n", MaxEventBytes/(64<<10)+1) + "\n"},
		// Lines are bounded too, whatever they hold: memory stays near the cap.
		{"a long line that never ends", "data: " + big + big},
		{"a long comment", ":" + big + big + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(strings.NewReader(tc.in))
			if !errors.Is(err, ErrEventTooLarge) {
				t.Fatalf("error %v, want ErrEventTooLarge", err)
			}
		})
	}
	// Just under the cap is fine, and the line longer than the read buffer is reassembled.
	ok := strings.Repeat("z", MaxEventBytes-10)
	got, err := readAll(strings.NewReader("data: " + ok + "\n\n"))
	if !errors.Is(err, io.EOF) || len(got) != 1 || got[0].data != ok {
		t.Fatalf("an event under the cap: %d events, err %v", len(got), err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := readAll(io.MultiReader(strings.NewReader("data: x\n"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the read error", err)
	}
}

// flushRecorder counts flushes.
type flushRecorder struct {
	bytes.Buffer
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++ }

func TestWriteHelpers(t *testing.T) {
	w := &flushRecorder{}
	if err := WriteData(w, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := WriteEvent(w, "error", []byte(`{"error":{"type":"shutdown"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := WriteDone(w); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"a\":1}\n\nevent: error\ndata: {\"error\":{\"type\":\"shutdown\"}}\n\ndata: [DONE]\n\n"
	if w.String() != want {
		t.Fatalf("wrote %q, want %q", w.String(), want)
	}
	if w.flushes != 3 {
		t.Errorf("%d flushes, want one per event", w.flushes)
	}
	// What the writer writes, the reader reads back.
	got, err := readAll(strings.NewReader(want))
	if !errors.Is(err, io.EOF) || len(got) != 3 || got[1] != (event{"error", `{"error":{"type":"shutdown"}}`}) || got[2].data != "[DONE]" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// DataLater and Last leave flushing to whoever comes next: the next event, or the HTTP server
// when the handler returns.
func TestWriterUnflushedEvents(t *testing.T) {
	w := &flushRecorder{}
	out := NewWriter(w)
	steps := []struct {
		write   func() error
		flushes int
	}{
		{func() error { return out.DataLater([]byte("a")) }, 0},
		{func() error { return out.Data([]byte("b")) }, 1},
		{func() error { return out.Last("error", []byte(`{"error":{}}`)) }, 1},
	}
	for i, s := range steps {
		if err := s.write(); err != nil {
			t.Fatal(err)
		}
		if w.flushes != s.flushes {
			t.Fatalf("after step %d: %d flushes, want %d", i, w.flushes, s.flushes)
		}
	}
	if want := "data: a\n\ndata: b\n\nevent: error\ndata: {\"error\":{}}\n\n"; w.String() != want {
		t.Fatalf("wrote %q, want %q", w.String(), want)
	}
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("broken pipe")
	err := WriteData(failWriter{boom}, []byte("x"))
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want it to wrap the write error", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestWriteOverHTTP checks events reach an HTTP client one by one (flushed, not buffered).
func TestWriteOverHTTP(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_ = WriteData(w, []byte("first"))
		select {
		case <-next: // the client has read the first event before the second is written
		case <-r.Context().Done():
			return
		}
		_ = WriteDone(w)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := NewReader(resp.Body)
	ev, err := rd.Next()
	if err != nil || string(ev.Data) != "first" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	close(next)
	ev, err = rd.Next()
	if err != nil || !bytes.Equal(ev.Data, Done) {
		t.Fatalf("second event %q, %v", ev.Data, err)
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after [DONE]: %v, want io.EOF", err)
	}
}

func TestBufferedSeesWholeEventsOnly(t *testing.T) {
	pr, pw := io.Pipe()
	rd := NewReader(pr)
	go func() { _, _ = pw.Write([]byte("data: one\n\ndata: tw")) }()
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "one" {
		t.Fatalf("first: %q %v", ev.Data, err)
	}
	if rd.Buffered() {
		t.Error("half an event reported as ready")
	}
	go func() { _, _ = pw.Write([]byte("o\n\n")) }()
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "two" {
		t.Fatalf("second: %q %v", ev.Data, err)
	}
	go func() { _, _ = pw.Write([]byte("data: a\n\ndata: b\n\n")) }()
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if !rd.Buffered() {
		t.Error("a whole buffered event not reported as ready")
	}
	pw.Close()
}

// chunks is a source that returns one piece per Read, as a network connection may.
type chunks struct{ parts []string }

func (c *chunks) Read(b []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func TestLastDataCountsOnlyDataLines(t *testing.T) {
	for _, tc := range []struct {
		name      string
		parts     []string
		data      bool
		afterData bool // what AfterData says at the end
	}{
		{"nothing yet", nil, false, false},
		{"comments only", []string{": keep-alive\n\n", ":\n\n", ": x\r\n\r\n"}, false, false},
		{"other fields", []string{"event: ping\n", "id: 7\nretry: 10\n\n"}, false, false},
		{"a field that starts like data", []string{"dat\n", "datum: 1\n\n"}, false, false},
		{"a data line", []string{": ka\n\n", "data: {}\n\n"}, true, true},
		{"a data line split before its colon", []string{"da", "ta: {}\n\n"}, true, true},
		{"a data field without a value", []string{"data\n\n"}, true, true},
		{"a data field without a value, CRLF", []string{"data\r\n\r\n"}, true, true},
		{"a long data line still arriving", []string{"data: " + strings.Repeat("x", 10)}, true, true},
		{"data, then a comment in the same read", []string{"data: {}\n\n: ka\n\n"}, true, false},
		{"a comment, then blank lines", []string{": ka\n", "\n", "\r\n"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewReader(&chunks{parts: slices.Clone(tc.parts)})
			defer rd.Release()
			before := time.Now()
			for {
				if _, err := rd.Next(); err != nil {
					break
				}
			}
			got := rd.LastData()
			if tc.data && got.Before(before) {
				t.Fatalf("LastData = %v, want a time after %v", got, before)
			}
			if !tc.data && !got.IsZero() {
				t.Fatalf("LastData = %v, want zero: no data line arrived", got)
			}
			if rd.AfterData() != tc.afterData {
				t.Fatalf("AfterData = %v, want %v", rd.AfterData(), tc.afterData)
			}
		})
	}
}
