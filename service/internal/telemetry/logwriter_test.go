package telemetry

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return b.buf.Write(p)
}

func (b *lockedBuf) snapshot() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.n
}

func TestLogWriterBatchesAndFlushes(t *testing.T) {
	out := &lockedBuf{}
	l := NewLogWriter(out, time.Hour) // only explicit flushes in this part
	for i := 0; i < 100; i++ {
		_, _ = l.Write([]byte("line\n"))
	}
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("written before a flush: %q", s)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	s, writes := out.snapshot()
	if strings.Count(s, "line\n") != 100 || writes != 1 {
		t.Errorf("after flush: %d lines in %d writes", strings.Count(s, "line\n"), writes)
	}
	_, _ = l.Write([]byte("last\n"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.snapshot(); !strings.HasSuffix(s, "last\n") {
		t.Error("Close did not flush")
	}
}

func TestLogWriterFlushesPeriodically(t *testing.T) {
	out := &lockedBuf{}
	l := NewLogWriter(out, 10*time.Millisecond)
	defer l.Close()
	_, _ = l.Write([]byte("tick\n"))
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		if s, _ := out.snapshot(); s == "tick\n" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the periodic flush never came")
}
