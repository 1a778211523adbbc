package actors

import (
	"math"
	"sync/atomic"
	"time"
)

// Histogram counts observations into fixed buckets, safe for concurrent
// use: a latency distribution that costs one atomic add per observation.
type Histogram struct {
	bounds []float64 // upper bounds, ascending; a last bucket catches the rest
	counts []atomic.Uint64
	sum    atomic.Uint64 // nanoseconds, for the Prometheus _sum
}

// LatencyBounds are 1-2-5 steps from 100 µs to 10 s, in seconds.
var LatencyBounds = []float64{0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}

// NewHistogram returns a histogram with the given upper bounds (seconds).
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(max(d, 0)))
}

// HistogramStats is a histogram's figures: Counts[i] observations at most
// Bounds[i] seconds (and above the previous bound); the last count is above
// every bound.
type HistogramStats struct {
	Bounds     []float64 `json:"bounds"`
	Counts     []uint64  `json:"counts"`
	SumSeconds float64   `json:"sum_seconds"`
}

// Stats reads the histogram.
func (h *Histogram) Stats() HistogramStats {
	st := HistogramStats{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		st.Counts[i] = h.counts[i].Load()
	}
	st.SumSeconds = float64(h.sum.Load()) / 1e9
	return st
}

// Plus returns h and o summed (the same bounds).
func (h HistogramStats) Plus(o HistogramStats) HistogramStats {
	if h.Counts == nil {
		h.Bounds, h.Counts = o.Bounds, make([]uint64, len(o.Counts))
	} else {
		h.Counts = append([]uint64(nil), h.Counts...)
	}
	for i := range o.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.SumSeconds += o.SumSeconds
	return h
}

// Since returns what h counted after earlier, a reading of the same histogram.
func (h HistogramStats) Since(earlier HistogramStats) HistogramStats {
	out := HistogramStats{Bounds: h.Bounds, Counts: append([]uint64(nil), h.Counts...), SumSeconds: h.SumSeconds - earlier.SumSeconds}
	for i := range earlier.Counts {
		out.Counts[i] -= earlier.Counts[i]
	}
	return out
}

// Quantile is the upper bound of the bucket that holds the q-th observation
// (0 < q <= 1): +Inf above every bound, 0 when nothing was observed.
func (h HistogramStats) Quantile(q float64) float64 {
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(h.Bounds) {
				return h.Bounds[i]
			}
			break
		}
	}
	return math.Inf(1)
}
