package aggregators

import (
	"sync"
	"time"
)

// View is an immutable picture of one (host, kind)'s period, safe to share.
// The closed buckets' list is shared between views until a bucket closes, so
// that a new sample costs one copy of the open bucket, not of the whole ring.
type View struct {
	Host, Kind string
	Period     Period
	Layout     *Layout
	Closed     []*Bucket // oldest first; shared, never modified
	Open       *Bucket   // the newest bucket while it is open, else nil
	Version    uint64    // grows with every change
	// OpenDerived marks a view from Rings.LeanView whose Open holds only
	// the open bucket's start and count, its samples all in the shorter
	// period's view it was built with: to be named, never read.
	OpenDerived bool
}

// Len is the number of buckets.
func (v *View) Len() int {
	if v.Open != nil {
		return len(v.Closed) + 1
	}
	return len(v.Closed)
}

// List returns every bucket, oldest first, with wide accumulators (closed
// buckets are unpacked for the caller, into u's memory when u is not nil).
func (v *View) List(u *Unpacker) []*Bucket {
	out := make([]*Bucket, 0, v.Len())
	for _, b := range v.Closed {
		out = append(out, u.unpack(b, v.Layout))
	}
	if v.Open != nil {
		out = append(out, v.Open)
	}
	return out
}

// Since returns, with wide accumulators and oldest first, the closed
// buckets of v that are not in prev (the Closed list of an earlier view of
// the same series: a closed bucket is immutable, and a corrected one is a
// new object, so identity tells), then the open bucket. Closed buckets are
// unpacked into u's memory when u is not nil. A bucket for which skip (when
// not nil) returns true is left out, and not unpacked.
func (v *View) Since(prev []*Bucket, u *Unpacker, skip func(*Bucket) bool) []*Bucket {
	var out []*Bucket
	j := 0
	for _, b := range v.Closed {
		for j < len(prev) && prev[j].Start < b.Start {
			j++
		}
		if j < len(prev) && prev[j] == b || skip != nil && skip(b) {
			continue
		}
		out = append(out, u.unpack(b, v.Layout))
	}
	if o := v.OpenToWrite(skip); o != nil {
		out = append(out, o)
	}
	return out
}

// OpenToWrite is the open bucket for a writer of v's buckets, or nil: none
// when v has none, or when skip (when not nil) returns true for it. An open
// bucket of a lean view is covered by the shorter period by construction
// (Rings.LeanView), so skip names it; it is never written, as it holds no
// accumulators.
func (v *View) OpenToWrite(skip func(*Bucket) bool) *Bucket {
	o := v.Open
	if o == nil || skip != nil && skip(o) || v.OpenDerived {
		return nil
	}
	return o
}

// Covers reports whether v's buckets within [start, start+width) hold
// count samples in all. Every sample the rings took for a period was taken
// for every longer period too, so when a longer period's bucket of that
// span holds count samples, v's buckets hold the very same samples, and
// Derive gives that bucket back from them.
func (v *View) Covers(start, width int64, count uint32) bool {
	var n uint64
	for _, b := range v.Closed {
		if b.Start >= start && b.Start < start+width {
			n += uint64(b.Count)
		}
	}
	if o := v.Open; o != nil && o.Start >= start && o.Start < start+width {
		n += uint64(o.Count)
	}
	return n == uint64(count)
}

// Derive rebuilds the bucket of [start, start+width) of a longer period
// from fine, a shorter period's wide buckets (oldest first, on layout l),
// merged in order; nil when none falls in the span. Counts, minima, maxima,
// a counter's last value and the literals come back exactly; a sum is the
// sum of the shorter buckets' sums, which can differ in its last bit from
// the sum taken sample by sample.
func Derive(fine []*Bucket, start, width int64, l *Layout) *Bucket {
	var out *Bucket
	for _, b := range fine {
		if b.Start < start || b.Start >= start+width {
			continue
		}
		if out == nil {
			out = NewBucket(start)
		}
		out.Merge(b, l)
	}
	return out
}

// Unpacker lends wide copies of packed buckets and takes them back all at
// once: a writer that encodes one host after another unpacks each host's
// buckets into the same memory instead of allocating them anew. What it
// lent is valid until its next Reset. A nil Unpacker allocates.
type Unpacker struct {
	wide []*Bucket
	used int
}

// Reset takes back everything lent.
func (u *Unpacker) Reset() { u.used = 0 }

// Unpack returns b with wide accumulators (on layout l): b itself when it
// is wide, else a copy in u's memory.
func (u *Unpacker) Unpack(b *Bucket, l *Layout) *Bucket { return u.unpack(b, l) }

func (u *Unpacker) unpack(b *Bucket, l *Layout) *Bucket {
	if u == nil || b.packed == nil {
		return b.unpack(l)
	}
	if u.used == len(u.wide) {
		u.wide = append(u.wide, &Bucket{})
	}
	w := u.wide[u.used]
	u.used++
	return b.unpackInto(w, l)
}

// Entries returns the buckets as entries, oldest first.
func (v *View) Entries() []Entry {
	out := make([]Entry, 0, v.Len())
	for _, b := range v.Closed {
		out = append(out, Entry{Layout: v.Layout, Bucket: b.unpack(v.Layout)})
	}
	if v.Open != nil {
		out = append(out, Entry{Layout: v.Layout, Bucket: v.Open})
	}
	return out
}

// Latest is the newest raw sample of one (host, kind), as published.
type Latest struct {
	Host, Kind string
	Raw        []byte    // the sample's JSON, byte for byte (of a partial sample: the newest part)
	Time       int64     // the sample's timestamp, Unix seconds
	Received   time.Time // when the hub got it; zero if restored from disk
	// Seq is the sample's number from its agent (bus.SeqHeader), or "":
	// saved with the state, so that a restarted hub still knows which of
	// the samples an agent sends again it already has.
	Seq string

	// Parts, for a kind published in parts, is the newest part of each
	// index; Body merges them.
	Parts [][]byte
	Merge func(parts [][]byte) ([]byte, error)

	once   sync.Once
	merged []byte
}

// Body is the latest sample: Raw, or the parts merged (once, when first
// asked for).
func (l *Latest) Body() []byte {
	if l.Merge == nil || len(l.Parts) == 0 {
		return l.Raw
	}
	l.once.Do(func() {
		var parts [][]byte
		for _, p := range l.Parts {
			if p != nil {
				parts = append(parts, p)
			}
		}
		b, err := l.Merge(parts)
		if err != nil {
			b = l.Raw
		}
		l.merged = b
	})
	return l.merged
}
