package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// TestDeliverKeepsEachHostsOrder: a sample delivered while an earlier one
// of its shard waits in the mailbox goes behind it, never in place before
// it; a sample delivered to an idle shard is added in place, before
// Deliver returns. Each host sends two samples of the same second, the
// first to the mailbox and the second in place at once: the second must be
// each host's last value.
func TestDeliverKeepsEachHostsOrder(t *testing.T) {
	p := New([]aggregators.Kind{{Name: "toy", Counters: []string{"n"}}}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range p.Shards {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	bustest.Eventually(t, 5*time.Second, func() error {
		for _, s := range p.Shards {
			if !s.Running() {
				return fmt.Errorf("shard %d not running", s.ID)
			}
		}
		return nil
	})
	sample := func(host string, n int) raw {
		return raw{host: host, kind: "toy", data: []byte(fmt.Sprintf(`{"timestamp":1000,"n":%d}`, n))}
	}
	const hosts = 200
	for i := range hosts {
		host := fmt.Sprintf("h%03d", i)
		s := p.shardOf(host)
		s.Deliver(sample(host, 1), false)
		s.Deliver(sample(host, 2), true)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		for _, s := range p.Shards {
			if n := s.pending.Load(); n != 0 {
				return fmt.Errorf("shard %d: %d samples not added", s.ID, n)
			}
		}
		return nil
	})
	for i := range hosts {
		host := fmt.Sprintf("h%03d", i)
		if l := p.latestOf(host, "toy"); l == nil || !strings.Contains(string(l.Raw), `"n":2`) {
			t.Fatalf("%s: latest %v, want the second sample", host, l)
		}
		v := p.shardOf(host).View(0, host, "toy")
		b := v.List(nil)
		n, _ := b[len(b)-1].Get(v.Layout.Lookup("n"), aggregators.Mean)
		if n != 2 {
			t.Fatalf("%s: the counter's last value is %v, want 2 (the second sample)", host, n)
		}
	}
	// An idle shard (nothing pending; its goroutine may still hold the
	// lock for a moment, after an answer or at its clock's tick: then the
	// sample goes to the mailbox, and the next attempt waits for it): a
	// sample is added before Deliver returns.
	s := p.shardOf("late")
	for k := 0; ; k++ {
		bustest.Eventually(t, 10*time.Second, func() error {
			if n := s.pending.Load(); n != 0 {
				return fmt.Errorf("%d samples not added", n)
			}
			return nil
		})
		before := s.inPlace.Load()
		s.Deliver(sample("late", 10+k), true)
		if s.inPlace.Load() == before+1 {
			if l := p.latestOf("late", "toy"); l == nil || !strings.Contains(string(l.Raw), fmt.Sprintf(`"n":%d`, 10+k)) {
				t.Fatalf("added in place, but the latest sample is %v", l)
			}
			break
		}
		if k == 20 {
			t.Fatal("no sample delivered to an idle shard was added in place")
		}
	}
}
