// Package bustest is the test support every package's tests share: an
// embedded bus per test, polling until a condition holds, and a quiet
// logger. It sits beside bus at the bottom of the import graph, so the tests
// of any package may use it without an upward edge.
//
// Tests never sleep to synchronise: they poll for the condition they need
// with Eventually, which fails with the condition's last error at the
// deadline, or they run on fake time (testing/synctest).
package bustest

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/bus"
)

// Quiet is a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Step is how often Eventually polls.
const Step = 5 * time.Millisecond

// Eventually polls cond every Step until it returns nil, and fails the test
// with cond's last error if that has not happened within limit.
func Eventually(t testing.TB, limit time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", limit, err)
		}
		time.Sleep(Step) // polling, not synchronisation: cond decides
	}
}

// Server starts an in-process embedded bus (no TCP port) and shuts it down
// when the test ends.
func Server(t testing.TB) *bus.Server {
	t.Helper()
	srv, err := bus.Start(bus.Options{Log: Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Conn opens an in-process connection to srv; Server's cleanup closes it.
func Conn(t testing.TB, srv *bus.Server, name string) *bus.Conn {
	t.Helper()
	c, err := srv.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Writer is an io.Writer safe for concurrent use that keeps what is
// written: a log destination tests can read back. The zero value is ready.
type Writer struct {
	mu  sync.Mutex
	buf []byte
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// String is everything written so far.
func (w *Writer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// Logger returns a text logger that writes to w.
func (w *Writer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

var _ io.Writer = (*Writer)(nil)
