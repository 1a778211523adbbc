package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"
)

// The hub tunes Go's garbage collector unless GOGC is set. A fleet hub's
// heap is mostly long-lived buckets, and Go's default (GOGC=100) lets the
// process grow to twice its live heap before collecting: with a thousand
// full hosts, 1,388 KB held from the system per host instead of 958 KB at
// GOGC=30 (BenchmarkHeapPerHost, held-KB/host). A small hub's heap is a few
// megabytes that churn fast (10,000 uptime checks every 5 s), where a low
// GOGC would collect all the time. So the collector's headroom is kept at
// the larger of 64 MiB and 30 % of the live heap: GOGC=100 (Go's default)
// up to 64 MiB live, falling to 30 from 213 MiB on. Time-series stores
// with the same shape of heap do likewise (VictoriaMetrics runs at 30).

const (
	gcHeadroomFloor = 64 << 20 // bytes
	gcPercentMin    = 30
	gcTuneEvery     = 5 * time.Second
)

// gogcFor is the GOGC that gives a live heap of live bytes its headroom.
func gogcFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return min(100, max(gcPercentMin, int(100*gcHeadroomFloor/live)))
}

// gcTuner sets GOGC from the live heap.
type gcTuner struct {
	sample []metrics.Sample
	last   int
}

func newGCTuner() *gcTuner {
	return &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, last: -2}
}

// adjust reads the live heap as of the last collection and sets GOGC for
// it; it returns the GOGC in force.
func (t *gcTuner) adjust() int {
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if g := gogcFor(live); g != t.last {
		debug.SetGCPercent(g)
		t.last = g
	}
	return t.last
}

// run adjusts every gcTuneEvery until ctx is done.
func (t *gcTuner) run(ctx context.Context) {
	tick := time.NewTicker(gcTuneEvery)
	defer tick.Stop()
	for {
		t.adjust()
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// gcMode is how the hub's collector is set: "auto" (tuned), or GOGC's
// value as the runtime reads it.
func gcMode(getenv func(string) string) string {
	switch v := getenv("GOGC"); {
	case v == "":
		return "auto"
	case v == "off":
		return "off"
	default:
		if n, err := strconv.Atoi(v); err == nil {
			return strconv.Itoa(n)
		}
		return "100" // what the runtime makes of a GOGC it cannot read
	}
}
