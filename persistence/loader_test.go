package persistence_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/persistence"
)

// TestAHostAskedForLoadsFirst: a hub serves while its state loads. A
// query for a host that has not loaded yet has that host read next, ahead
// of the others (and of hosts whose samples wait), and answers with its
// whole saved history; queries for
// hosts that never load return once the load is over; every host ends up
// as it was saved. The shards run throughout, so the restores happen on
// their goroutines (the race detector checks that).
func TestAHostAskedForLoadsFirst(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"h1", "h2", "h3", "h4", "h5"}
	saved := map[string]*pipeline.Pipeline{}
	for i, h := range hosts {
		p := fed(t, h, map[int64]float64{3000: float64(i), 3001: 20, 3004: 90, 3010: 5, 3400: 7})
		if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}).SnapshotAll(); err != nil {
			t.Fatal(err)
		}
		saved[h] = p
	}

	l := persistence.Scan(dir, "own", []aggregators.Kind{toy}, quiet)
	defer l.Close()
	if got, want := l.Hosts(), append(slices.Clone(hosts), "own"); !slices.Equal(got, want) {
		t.Fatalf("hosts %v, want %v", got, want)
	}
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	var shards sync.WaitGroup
	for _, s := range q.Shards {
		shards.Go(func() { _ = s.Run(ctx) })
	}
	defer func() { cancel(); shards.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); !q.Running(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the shards did not start")
		}
	}
	q.Pending(append(l.Hosts(), "ghost"), l.Prioritize)
	if q.Known("nobody") {
		t.Fatal("an unknown host is known")
	}
	if got := q.Stats().HostsLoading; got != 7 {
		t.Fatalf("hosts_loading %d, want 7", got)
	}

	gate, blocked := make(chan struct{}), make(chan struct{})
	var order []string
	use := func(st *persistence.State) {
		if order = append(order, st.Host); len(order) == 1 {
			close(blocked)
			<-gate // the worker holds h1 until the query for h5 is in
		}
		q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	}
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		l.Run(ctx, 1, use, q.Loaded)
	}()
	<-blocked
	l.Prioritize("h4", false) // samples of h4 wait for it: after a reader's
	view := make(chan *aggregators.View, 1)
	go func() { view <- q.View(aggregators.Periods[0], "h5", "toy") }()
	for deadline := time.Now().Add(10 * time.Second); !persistence.Prioritized(l, "h5"); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the query for h5 did not ask for it to be read first")
		}
	}
	select {
	case <-view:
		t.Fatal("the query for h5 answered before h5 was loaded")
	default:
	}
	close(gate)
	if v := <-view; v == nil || len(v.List(nil)) != len(saved["h5"].View(aggregators.Periods[0], "h5", "toy").List(nil)) {
		t.Fatalf("h5's 5m view while loading: %v", v)
	}
	<-loaded
	if want := []string{"h1", "h5", "h4", "h2", "h3"}; !slices.Equal(order, want) {
		t.Fatalf("loaded in the order %v, want %v", order, want)
	}
	if l.Load("h2", use) {
		t.Fatal("h2 was loaded twice")
	}
	ghost := make(chan *aggregators.View, 1)
	go func() { ghost <- q.View(aggregators.Periods[0], "ghost", "toy") }()
	if got := q.Stats().HostsLoading; got != 1 {
		t.Fatalf("hosts_loading %d after the load, want 1 (ghost, not on disk)", got)
	}
	q.LoadingDone()
	if v := <-ghost; v != nil {
		t.Fatalf("ghost has a view: %v", v)
	}
	if got := q.Stats().HostsLoading; got != 0 || q.Known("ghost") || !q.Known("h5") {
		t.Fatalf("hosts_loading %d, ghost known %v, h5 known %v after LoadingDone", got, q.Known("ghost"), q.Known("h5"))
	}
	for _, h := range hosts {
		if got, want := dump(q, h), dump(saved[h], h); got != want {
			t.Fatalf("%s after loading:\n%s\nsaved:\n%s", h, got, want)
		}
	}
}
