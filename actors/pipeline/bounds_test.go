package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

func toySample(ts int64, extra string) []byte {
	return fmt.Appendf(nil, `{"timestamp":%d,"x":1%s}`, ts, extra)
}

// TestBoundsDropAndCount: hosts past MaxHosts, a sample over
// MaxSampleBytes and a long string value are dropped (the string from the
// buckets only) and counted by reason, and the hosts within the bounds are
// served as before. The hub's own host, arriving last, is kept and does not
// count toward MaxHosts.
func TestBoundsDropAndCount(t *testing.T) {
	p := pipeline.NewWith(pipeline.Options{MaxHosts: 3, MaxSampleBytes: 4096, OwnHost: "hub"},
		[]aggregators.Kind{{Name: "toy"}}, nil, nil, bustest.Quiet())
	now := time.Now()
	for i := range 5 {
		err := p.IngestNow(fmt.Sprintf("ringwatch.raw.h%d.toy", i), toySample(now.Unix(), ""), nil, now)
		if (err == nil) != (i < 3) {
			t.Fatalf("host %d: %v", i, err)
		}
	}
	if err := p.IngestNow("ringwatch.raw.hub.toy", toySample(now.Unix(), ""), nil, now); err != nil {
		t.Fatalf("the hub's own host past MaxHosts: %v", err)
	}
	if err := p.IngestNow("ringwatch.raw.h5.toy", toySample(now.Unix(), ""), nil, now); err == nil {
		t.Fatal("a host past MaxHosts after the hub's own was kept")
	}
	big := toySample(now.Unix(), `,"pad":"`+strings.Repeat("x", 5000)+`"`)
	if err := p.IngestNow("ringwatch.raw.h0.toy", big, nil, now); err == nil || !strings.Contains(err.Error(), "--max-sample-bytes") {
		t.Fatalf("a 5 KB sample: %v", err)
	}
	long := toySample(now.Unix()+1, `,"name":"`+strings.Repeat("y", 300)+`","dev":"sda"`)
	if err := p.IngestNow("ringwatch.raw.h1.toy", long, nil, now); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Dropped["too_many_hosts"] != 3 || st.Dropped["too_large"] != 1 || st.LongLiterals != 1 || st.Hosts != 4 || st.MaxHosts != 3 {
		t.Fatalf("stats %+v", st)
	}
	for _, h := range []string{"h0", "h1", "h2", "hub"} {
		if !p.Known(h) {
			t.Errorf("%s within the bounds is not served", h)
		}
	}
	if p.Known("h3") || p.Known("h4") {
		t.Error("a host past MaxHosts is kept")
	}
	// The long string stays in the latest sample, not in the buckets.
	if l := p.Latest("h1", "toy"); l == nil || !strings.Contains(string(l.Raw), strings.Repeat("y", 300)) {
		t.Fatal("the latest sample lost its long string")
	}
	v := p.View(aggregators.Periods[0], "h1", "toy")
	e := v.Entries()[len(v.Entries())-1]
	if e.Lit(v.Layout.Lookup("name")) != nil || string(e.Lit(v.Layout.Lookup("dev"))) != `"sda"` {
		t.Fatalf("bucket literals: name %q dev %q", e.Lit(v.Layout.Lookup("name")), e.Lit(v.Layout.Lookup("dev")))
	}
}

// TestSilentHostsAreForgotten: a host silent for longer than the retention
// is forgotten, in the pipeline and through OnForget, once; a host that
// keeps publishing is kept; a forgotten host that comes back starts anew.
func TestSilentHostsAreForgotten(t *testing.T) {
	var mu sync.Mutex
	var forgotten []string
	p := pipeline.NewWith(pipeline.Options{Retention: 300 * time.Millisecond, OnForget: func(host string, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		forgotten = append(forgotten, host)
	}}, []aggregators.Kind{{Name: "toy"}}, nil, nil, bustest.Quiet())
	p.Ingest.Window = 50 * time.Millisecond
	sup := actors.NewSupervisor(bustest.Quiet(), actors.DefaultBackoff)
	defer sup.Stop(context.Background())
	for _, sp := range p.Specs() {
		if sp.Name == "ingest" {
			continue // it needs a bus: the test calls Expire, as its ticker would
		}
		_ = sup.Start(context.Background(), sp)
	}
	_ = p.Offer("ringwatch.raw.quiet.toy", toySample(time.Now().Unix(), ""), nil)
	bustest.Eventually(t, 5*time.Second, func() error {
		if !p.Known("quiet") {
			return fmt.Errorf("not ingested yet")
		}
		return nil
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_ = p.Offer("ringwatch.raw.busy.toy", toySample(time.Now().Unix(), ""), nil)
				p.Expire(time.Now())
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	bustest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(forgotten) != 1 || forgotten[0] != "quiet" || p.Known("quiet") || p.Stats().Forgotten != 1 {
			return fmt.Errorf("forgotten %v, known %v", forgotten, p.Known("quiet"))
		}
		return nil
	})
	if !p.Known("busy") {
		t.Fatal("a host that keeps publishing was forgotten")
	}
}

// TestRestoredHostsAreNotExpiredAsTheyRestore: a host restored while the
// retention's pass runs (the ingest actor expires at its start, while the
// state loads) is kept, not taken for one silent since 1970 in the moment
// between its entry and its time.
func TestRestoredHostsAreNotExpiredAsTheyRestore(t *testing.T) {
	p := pipeline.New([]aggregators.Kind{{Name: "toy"}}, nil, nil, bustest.Quiet())
	f := aggregators.NewFlattener(nil, nil)
	v, err := f.Flatten(toySample(3000, ""))
	if err != nil {
		t.Fatal(err)
	}
	b := aggregators.NewBucket(2997)
	b.Add(v)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				p.Expire(time.Now())
			}
		}
	})
	const hosts = 3000
	for i := range hosts {
		p.Restore(fmt.Sprintf("h%d", i), "toy", f.Layout(), map[string][]*aggregators.Bucket{"5m": {b}}, nil, 0)
	}
	close(stop)
	wg.Wait()
	if st := p.Stats(); st.Hosts != hosts || st.Forgotten != 0 {
		t.Fatalf("%d hosts kept and %d forgotten of %d restored", st.Hosts, st.Forgotten, hosts)
	}
}
