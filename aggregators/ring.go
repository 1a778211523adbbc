package aggregators

import (
	"cmp"
	"slices"
)

// Ring holds the newest Slots buckets of one period. Slot i holds the bucket
// whose index start/interval ≡ i (mod Slots), so finding a sample's bucket is
// arithmetic and buckets are aligned to the wall clock. Missing buckets (the
// host was down) stay missing: they are gaps, not zeros.
type Ring struct {
	interval int64 // seconds
	slots    [Slots]*Bucket
	newest   int64 // bucket index (start/interval) of the newest bucket
	empty    bool
}

// NewRing returns an empty ring of interval seconds.
func NewRing(intervalSeconds int64) *Ring {
	return &Ring{interval: intervalSeconds, empty: true}
}

// Start is the start of the bucket that holds ts.
func (r *Ring) Start(ts int64) int64 { return FloorDiv(ts, r.interval) * r.interval }

// FloorDiv is a divided by b, rounded down (toward -inf for negative a).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Place returns the bucket for a sample at ts, creating it if needed. It
// returns nil when ts is older than the ring. newest reports whether the bucket
// is the ring's newest; prev is the bucket that was newest before, when a new
// newest bucket was created.
func (r *Ring) Place(ts int64) (b *Bucket, newest bool, prev *Bucket) {
	k := FloorDiv(ts, r.interval)
	if !r.empty && k <= r.newest-Slots {
		return nil, false, nil
	}
	slot := &r.slots[mod(k, Slots)]
	if !r.empty && k > r.newest {
		prev = r.slots[mod(r.newest, Slots)]
		if prev != nil && prev.Start != r.newest*r.interval {
			prev = nil
		}
	}
	if *slot == nil || (*slot).Start != k*r.interval {
		*slot = NewBucket(k * r.interval)
	}
	if r.empty || k > r.newest {
		r.newest, r.empty = k, false
	}
	return *slot, k == r.newest, prev
}

// Replace puts b (a modified copy of the bucket with the same start) in its slot.
func (r *Ring) Replace(b *Bucket) {
	k := FloorDiv(b.Start, r.interval)
	slot := &r.slots[mod(k, Slots)]
	if *slot != nil && (*slot).Start == b.Start {
		*slot = b
	}
}

// Newest returns the newest bucket, or nil.
func (r *Ring) Newest() *Bucket {
	if r.empty {
		return nil
	}
	return r.slots[mod(r.newest, Slots)]
}

// live yields the live buckets, oldest first.
func (r *Ring) live(yield func(*Bucket) bool) {
	if r.empty {
		return
	}
	for k := r.newest - Slots + 1; k <= r.newest; k++ {
		if b := r.slots[mod(k, Slots)]; b != nil && b.Start == k*r.interval && !yield(b) {
			return
		}
	}
}

// Buckets returns the live buckets, oldest first.
func (r *Ring) Buckets() []*Bucket {
	if r.empty {
		return nil
	}
	out := make([]*Bucket, 0, Slots)
	for b := range r.live {
		out = append(out, b)
	}
	return out
}

// Frozen returns the closed (frozen) buckets, oldest first, in a list of
// their exact length: a view keeps it until the next bucket closes.
func (r *Ring) Frozen() []*Bucket {
	if r.empty {
		return nil
	}
	n := 0
	for b := range r.live {
		if b.frozen {
			n++
		}
	}
	out := make([]*Bucket, 0, n)
	for b := range r.live {
		if b.frozen {
			out = append(out, b)
		}
	}
	return out
}

func mod(a, m int64) int64 {
	x := a % m
	if x < 0 {
		x += m
	}
	return x
}

func sortedByStart(bs []*Bucket) []*Bucket {
	out := append([]*Bucket(nil), bs...)
	slices.SortStableFunc(out, func(a, b *Bucket) int { return cmp.Compare(a.Start, b.Start) })
	return out
}
