package aggregators

import (
	"slices"
)

// Acc aggregates one numeric series within a bucket: the count, the sum
// (or, for a cumulative counter, the last value), the minimum and the
// maximum. The mean is the sum over the count, divided when it is read, not
// for every sample.
type Acc struct {
	N   uint32
	Val float64 // the sum, or a counter's last value
	Min float64
	Max float64
}

func (a *Acc) add(x float64, counter bool) {
	if a.N == 0 {
		*a = Acc{N: 1, Val: x, Min: x, Max: x}
		return
	}
	a.N++
	if counter {
		a.Val = x
	} else {
		a.Val += x
	}
	if x < a.Min {
		a.Min = x
	}
	if x > a.Max {
		a.Max = x
	}
}

// Stat selects which aggregate of a bucket to read.
type Stat uint8

// Stats.
const (
	Mean Stat = iota
	Min
	Max
)

// ParseStat parses avg, min or max ("" is avg).
func ParseStat(s string) (Stat, bool) {
	switch s {
	case "", "avg":
		return Mean, true
	case "min":
		return Min, true
	case "max":
		return Max, true
	}
	return 0, false
}

func (a Acc) get(s Stat, counter bool) float64 {
	switch s {
	case Min:
		return a.Min
	case Max:
		return a.Max
	}
	return a.Mean(counter)
}

// Mean is the mean of the samples, or a counter's last value.
func (a Acc) Mean(counter bool) float64 {
	if counter || a.N <= 1 {
		return a.Val
	}
	return a.Val / float64(a.N)
}

// Bucket aggregates the samples whose timestamps fall in [Start, Start+interval).
// A bucket that has been closed or shown to readers is frozen: the downsampler
// copies it before any further change, so readers may keep it.
//
// A counter's last value and a literal's are those of the sample with the
// latest timestamp, not of the last to arrive: a late sample adds to the
// count, the sums, minima and maxima, but does not replace them. So a
// longer period's bucket is, value for value, its shorter period's buckets
// merged in order (Derive), however the samples arrived.
type Bucket struct {
	Start  int64 // Unix seconds, a multiple of the interval
	Count  uint32
	newest uint32 // the latest sample's timestamp, less Start
	Acc    []Acc  // by layout node index; nil while packed
	Lits   []Lit  // the literal nodes' last values, few and sparse
	packed []byte // a closed bucket's accumulators, packed (see pack.go)
	frozen bool
	// fed: the open bucket of a chained ring (Chain), whose samples the
	// longer periods get when it closes.
	fed bool
}

// NewBucket returns an empty bucket starting at start.
func NewBucket(start int64) *Bucket { return &Bucket{Start: start} }

func (b *Bucket) grow(n int) {
	if len(b.Acc) < n {
		b.Acc = append(b.Acc, make([]Acc, n-len(b.Acc))...) // zeroed, also where it reuses capacity
	}
}

// Add folds one sample into b.
func (b *Bucket) Add(v *Values) {
	b.grow(len(v.Num))
	acc := b.Acc[:len(v.Num)]
	counter := v.Layout.counter[:len(v.Num)]
	latest := b.Count == 0 || v.Time >= b.Start+int64(b.newest)
	if latest {
		b.newest = uint32(max(0, v.Time-b.Start))
		for i, x := range v.Num {
			if x != x { // NaN: absent
				continue
			}
			acc[i].add(x, counter[i])
		}
	} else {
		for i, x := range v.Num {
			if x != x {
				continue
			}
			acc[i].addEarlier(x, counter[i])
		}
	}
	b.setLits(v.Lits, latest)
	b.Count++
}

// addEarlier is add for a sample older than one already added: a counter
// keeps its value.
func (a *Acc) addEarlier(x float64, counter bool) {
	if !counter || a.N == 0 {
		a.add(x, counter)
		return
	}
	a.N++
	a.Min = min(a.Min, x)
	a.Max = max(a.Max, x)
}

// setLits records literal values; an earlier sample's only where b has
// none. Samples of one kind list their literals in the same order, so the
// common case is a position-wise overwrite.
func (b *Bucket) setLits(ls []Lit, latest bool) {
	if b.Lits == nil && len(ls) > 0 {
		b.Lits = make([]Lit, 0, len(ls)) // a new bucket: one allocation, not one per doubling
	}
	for i, l := range ls {
		if i < len(b.Lits) && b.Lits[i].Index == l.Index {
			if latest {
				b.Lits[i].Raw = l.Raw
			}
			continue
		}
		b.setLit(l, latest)
	}
}

// setLit keeps Lits sorted by index, for binary search.
func (b *Bucket) setLit(l Lit, latest bool) {
	i, found := slices.BinarySearchFunc(b.Lits, l.Index, func(x Lit, idx int) int { return x.Index - idx })
	if found {
		if latest {
			b.Lits[i].Raw = l.Raw
		}
		return
	}
	b.Lits = slices.Insert(b.Lits, i, l)
}

// Merge folds o (the same bucket, or a shorter one within it) into b, as
// if o's samples were added one by one (but for the sums' last bits). When
// o's newest sample is older than b's, o's counters and literals do not
// replace b's (as for a late sample, see Bucket).
func (b *Bucket) Merge(o *Bucket, l *Layout) {
	if o.Count == 0 {
		return
	}
	on := o.Start + int64(o.newest)
	latest := b.Count == 0 || on >= b.Start+int64(b.newest)
	b.grow(len(o.Acc))
	acc := b.Acc[:len(o.Acc)]
	counter := l.counter[:len(o.Acc)]
	for i, x := range o.Acc {
		a := &acc[i]
		switch {
		case x.N == 0:
			continue
		case a.N == 0:
			*a = x
			continue
		case !counter[i]:
			a.Val += x.Val
		case latest:
			a.Val = x.Val
		}
		a.N += x.N
		if x.Min < a.Min {
			a.Min = x.Min
		}
		if x.Max > a.Max {
			a.Max = x.Max
		}
	}
	b.setLits(o.Lits, latest)
	if latest {
		b.newest = uint32(max(0, on-b.Start))
	}
	b.Count += o.Count
}

// Clone returns an unfrozen copy.
func (b *Bucket) Clone() *Bucket {
	c := &Bucket{Start: b.Start, Count: b.Count, newest: b.newest, Acc: append([]Acc(nil), b.Acc...), packed: b.packed}
	if b.Lits != nil {
		c.Lits = append([]Lit(nil), b.Lits...)
	}
	return c
}

// Has reports whether node n was present in any of b's samples.
func (b *Bucket) Has(n *Node) bool {
	return n != nil && n.Index < len(b.Acc) && b.Acc[n.Index].N > 0
}

// Get returns node n's aggregate s.
func (b *Bucket) Get(n *Node, s Stat) (float64, bool) {
	if !b.Has(n) || n.Type != Number {
		return 0, false
	}
	return b.Acc[n.Index].get(s, n.Counter), true
}

// AccOf returns node n's accumulator.
func (b *Bucket) AccOf(n *Node) (Acc, bool) {
	if !b.Has(n) {
		return Acc{}, false
	}
	return b.Acc[n.Index], true
}

// Lit returns literal node n's last raw JSON value.
func (b *Bucket) Lit(n *Node) []byte {
	if n == nil {
		return nil
	}
	if i, ok := slices.BinarySearchFunc(b.Lits, n.Index, func(x Lit, idx int) int { return x.Index - idx }); ok {
		return b.Lits[i].Raw
	}
	return nil
}
