package systeminfo

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ringwatch/ringwatch/actors"
)

// records is a slog handler that keeps every record.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) lines(msg string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Message != msg {
			continue
		}
		var b strings.Builder
		rec.Attrs(func(a slog.Attr) bool {
			b.WriteString(a.Key + "=" + a.Value.String() + " ")
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// sink is the bus as the poller sees it: it keeps what is published.
type sink struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (s *sink) Publish(_ string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, append([]byte(nil), data...))
	return nil
}

// TestFailingSourceLogsOneAggregatedLinePerWindow runs the poller for 65 s of
// fake time on a host whose /proc/diskstats and /proc/net/dev are missing:
// every second's sample is still published with what could be read, and the
// failures come out as one line per 30 s window with their counts.
func TestFailingSourceLogsOneAggregatedLinePerWindow(t *testing.T) {
	fx := newFixture(t)
	fx.remove("proc/diskstats")
	fx.remove("proc/net/dev")
	synctest.Test(t, func(t *testing.T) {
		src, err := New(Config{Env: fx.env()})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		logs := &records{}
		out := &sink{}
		p := &actors.Poller{Name: Name, Subject: "ringwatch.raw.h.system_info", Interval: time.Second,
			Source: src, Pub: out, Log: slog.New(logs)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		stopped := false
		defer func() {
			if !stopped {
				cancel()
				<-done
			}
		}()
		time.Sleep(65*time.Second + 500*time.Millisecond)
		synctest.Wait()

		lines := logs.lines("poll errors")
		if len(lines) != 2 {
			t.Fatalf("%d aggregated error lines in 65 s, want 2: %q", len(lines), lines)
		}
		for _, l := range lines {
			if !strings.Contains(l, "diskstats: no such file or directory (30 times)") ||
				!strings.Contains(l, "net/dev: no such file or directory (30 times)") ||
				!strings.Contains(l, "distinct=2") || !strings.Contains(l, "total=60") {
				t.Errorf("line %q lacks the counts", l)
			}
		}
		out.mu.Lock()
		n := len(out.msgs)
		var last SystemInfo
		_ = json.Unmarshal(out.msgs[n-1], &last)
		out.mu.Unlock()
		if n != 65 {
			t.Fatalf("%d samples published in 65 s, want 65", n)
		}
		if last.Memory.Total != 16777216000 || last.Swap.Total != 2097152000 || len(last.Disks) != 1 {
			t.Fatalf("readable parts missing from the sample: %+v", last)
		}
		cancel()
		stopped = true
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// On stop, the partial window (5 s) is reported too.
		if got := len(logs.lines("poll errors")); got != 3 {
			t.Fatalf("%d lines after stop, want 3", got)
		}
	})
}
