package aggregators

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MaxFuture is how far ahead of the hub's clock a sample may be.
const MaxFuture = time.Minute

// Grace is how long after its end an open bucket waits for late samples before
// a silent host's bucket is closed by the clock.
const Grace = 2 * time.Second

// Reasons Add drops a sample for.
var (
	ErrTooOld = errors.New("sample is older than the ring")
	ErrFuture = errors.New("sample is more than a minute ahead of the clock")
)

// Rings keeps one period's ring for every (host, kind): the state a
// downsampler actor owns. Add, Sweep, Restore, View and Views belong to that
// one goroutine; Cached and Has may be called from any goroutine.
//
// A sample goes to the bucket of its own timestamp. A bucket closes when a
// sample for a later bucket arrives, or when the clock passes its end by
// Grace; Closed is then called with it. A late sample for a closed bucket
// still within the ring is merged, and Closed is called again with the
// corrected bucket (consumers treat closed buckets as upserts keyed by start).
//
// Views are immutable and built on demand: View builds one only when the
// series changed since the last, and caches it where Cached finds it. A
// sample thus costs no copying however often it arrives, and a change is
// copied once however many readers want it.
type Rings struct {
	Period Period
	// Closed, when set, receives every bucket that closes (on the owning
	// goroutine, before Add or Sweep returns).
	Closed func(host, kind string, l *Layout, b *Bucket)
	// feed and source link the periods' rings into a chain (Chain): each
	// takes the closed buckets of the one before instead of every sample.
	feed   func(host, kind, key string, l *Layout, b *Bucket)
	source *Rings

	series    map[string]*series // owned
	refs      sync.Map           // key -> *seriesRef, for readers
	nextSweep int64              // Unix seconds before which no open bucket can be due
	scratch   []byte             // packing buffer
	pend      Bucket             // pending's scratch
	spare     [][]Acc            // wide accumulators of buckets just packed, for new ones (at most maxSpare)
	spareLits [][]Lit            // literals of buckets just packed that share their series' (at most maxSpare)
}

// maxSpare bounds Rings.spare: a sample that opens a bucket has usually
// just closed the one before it, so one is what is needed most of the time.
const maxSpare = 8

// seriesRef is what other goroutines may touch of a series: its last built
// view and the version it should have.
type seriesRef struct {
	view    atomic.Pointer[View]
	version atomic.Uint64
}

type series struct {
	key, host, kind string
	ring            *Ring
	layout          *Layout
	ref             *seriesRef
	version         uint64
	closed          []*Bucket // the frozen buckets of the current view, shared
	stale           bool      // closed must be rebuilt from the ring
	lits            []Lit     // the literals of the last bucket packed, shared by the next ones like it
	forgotten       bool      // Forget dropped it: a Handle still holding it looks again
}

// NewRings returns empty rings of period p.
func NewRings(p Period) *Rings { return &Rings{Period: p, series: map[string]*series{}} }

// SeriesKey identifies one (host, kind).
func SeriesKey(host, kind string) string { return host + "\x00" + kind }

func (r *Rings) get(key, host, kind string) *series {
	s := r.series[key]
	if s == nil {
		s = &series{key: key, host: host, kind: kind, ring: NewRing(r.Period.Seconds()), ref: &seriesRef{}}
		r.series[key] = s
		r.refs.Store(key, s.ref)
	}
	return s
}

// Restore loads buckets (in any order) for host and kind, before any sample.
func (r *Rings) Restore(host, kind string, l *Layout, buckets []*Bucket) {
	s := r.get(SeriesKey(host, kind), host, kind)
	s.layout = l
	for _, b := range sortedByStart(buckets) {
		slot, _, _ := s.ring.Place(b.Start)
		if slot == nil {
			continue
		}
		if slot.Count == 0 {
			s.ring.Replace(b)
		} else {
			slot.Merge(b, l)
		}
	}
	for _, b := range s.ring.Buckets() {
		if b.frozen = b != s.ring.Newest(); b.frozen { // the newest may still be open
			r.scratch = b.pack(l, r.scratch)
			r.shareLits(s, b)
		}
	}
	s.stale = true
	r.changed(s)
}

// Add puts one sample in its bucket. It returns ErrFuture or ErrTooOld for a
// sample it drops.
func (r *Rings) Add(v *Values, now time.Time) error {
	var h Handle
	return r.AddTo(&h, v, now)
}

// A Handle remembers one (host, kind)'s series of a Rings for a caller that
// adds to it sample after sample: AddTo looks the series up on its first
// call only. A handle outlives Forget safely (it looks the series up again).
type Handle struct{ s *series }

// AddTo is Add through h, which must be used for one (host, kind) only.
func (r *Rings) AddTo(h *Handle, v *Values, now time.Time) error {
	_, err := r.add(h, v, now)
	return err
}

// add is AddTo; carried reports that v went to a bucket that passes its
// samples on to the next period when it closes (see carries).
func (r *Rings) add(h *Handle, v *Values, now time.Time) (carried bool, err error) {
	if v.Time > now.Add(MaxFuture).Unix() {
		return false, ErrFuture
	}
	s, b, newest := r.place(h, v.Key, v.Host, v.Kind, v.Layout, v.Time)
	if b == nil {
		return false, ErrTooOld
	}
	carried = r.carries(b, newest)
	r.fold(s, b, newest, func(b *Bucket) { b.Add(v) })
	return carried, nil
}

// carries reports whether what goes into b reaches the next period's
// rings through r's feed, when b closes: b must be r's newest, open, and
// either empty or fed only so far; it is marked fed. Anything else, a late
// sample for a closed bucket or one restored from disk, goes to every
// longer period directly.
func (r *Rings) carries(b *Bucket, newest bool) bool {
	if r.feed == nil || !newest || b.frozen || (b.Count > 0 && !b.fed) {
		return false
	}
	b.fed = true
	return true
}

// merge folds o, a closed bucket of a shorter period, into the bucket of
// its start; carried as for add.
func (r *Rings) merge(host, kind, key string, l *Layout, o *Bucket) (carried bool) {
	var h Handle
	s, b, newest := r.place(&h, key, host, kind, l, o.Start)
	if b == nil {
		return false
	}
	carried = r.carries(b, newest)
	r.fold(s, b, newest, func(b *Bucket) { b.Merge(o, s.layout) })
	return carried
}

// touch tells r that a shorter period's bucket took v and carries it: r's
// bucket of v's time is opened (closing the one before it, as v would),
// and readers see the change. v itself comes later, with the shorter
// bucket, when it closes.
func (r *Rings) touch(h *Handle, v *Values) {
	s, b, newest := r.place(h, v.Key, v.Host, v.Kind, v.Layout, v.Time)
	if b != nil && newest {
		r.reuse(b) // (only an empty bucket)
	}
	r.changed(s)
}

// place finds the series (through h) and the bucket of ts, and closes the
// newest bucket when ts opens a newer one.
func (r *Rings) place(h *Handle, key, host, kind string, l *Layout, ts int64) (s *series, b *Bucket, newest bool) {
	s = h.s
	if s == nil || s.forgotten {
		if key == "" {
			key = SeriesKey(host, kind)
		}
		s = r.get(key, host, kind)
		h.s = s
	}
	if s.layout == nil || len(l.Nodes) >= len(s.layout.Nodes) {
		s.layout = l
	}
	b, newest, prev := s.ring.Place(ts)
	if b == nil {
		return s, nil, false
	}
	if newest && b.Count == 0 {
		s.stale = true // a new bucket may have pushed the oldest out
	}
	if prev != nil && !prev.frozen && prev.Count > 0 {
		r.close(s, prev)
	}
	return s, b, newest
}

// reuse gives a new bucket the wide accumulators of one just packed.
func (r *Rings) reuse(b *Bucket) {
	if b.Count != 0 || b.packed != nil {
		return
	}
	if b.Acc == nil && len(r.spare) > 0 {
		b.Acc = r.spare[len(r.spare)-1] // (Add clears what it uses)
		r.spare[len(r.spare)-1] = nil
		r.spare = r.spare[:len(r.spare)-1]
	}
	if b.Lits == nil && len(r.spareLits) > 0 {
		b.Lits = r.spareLits[len(r.spareLits)-1]
		r.spareLits[len(r.spareLits)-1] = nil
		r.spareLits = r.spareLits[:len(r.spareLits)-1]
	}
}

// fold applies put, a sample's or a shorter bucket's, to b.
func (r *Rings) fold(s *series, b *Bucket, newest bool, put func(*Bucket)) {
	r.reuse(b)
	switch {
	case b.frozen: // late, for a closed bucket: correct a copy, close it again
		c := b.unpack(s.layout)
		if c == b {
			c = b.Clone()
		} else {
			c.Lits = slices.Clone(c.Lits) // shared with other buckets: Add writes into it
		}
		put(c)
		s.ring.Replace(c)
		r.close(s, c)
	case !newest: // late, for a bucket that did not exist yet
		put(b)
		r.close(s, b)
	default:
		put(b)
	}
	r.changed(s)
}

// Chain links rs, one Rings per period, shortest first, each period's
// interval dividing the next's, so that each takes the closed buckets of
// the one before instead of every sample: a sample that goes to the open
// bucket of the 5m ring reaches the 15m ring when that bucket closes (three
// samples in one merge), the 1h ring when the 15m bucket closes, and so
// on. A sample costs one bucket's work instead of five, and a longer
// period's bucket is its shorter period's buckets merged in order, as
// Derive rebuilds it from a state file, bit for bit. A late sample (for a
// bucket already closed) goes to every period directly, as before, until
// one whose open bucket carries it on. A view shows what the shorter
// periods' open buckets carry. Add to linked rings with AddChained only.
func Chain(rs []*Rings) {
	for i, r := range rs[:len(rs)-1] {
		rs[i+1].source = r
		next := rs[i+1:]
		r.feed = func(host, kind, key string, l *Layout, b *Bucket) {
			for _, n := range next {
				if n.merge(host, kind, key, l, b) {
					return
				}
			}
		}
	}
}

// AddChained adds v to rings that Chain linked, through hs (one Handle per
// period, for v's series), and sets errs[i] to what period i did with it:
// nil, ErrFuture or ErrTooOld.
func AddChained(rs []*Rings, hs []Handle, v *Values, now time.Time, errs []error) {
	for i, r := range rs {
		carried, err := r.add(&hs[i], v, now)
		errs[i] = err
		if err == ErrFuture {
			for j := i + 1; j < len(rs); j++ {
				errs[j] = err
			}
			return
		}
		if carried {
			for j := i + 1; j < len(rs); j++ {
				rs[j].touch(&hs[j], v)
				errs[j] = nil
			}
			return
		}
	}
}

// Sweep closes open buckets whose end is Grace in the past at now. Buckets
// are aligned, so they all come due at the same moments (a bucket boundary
// plus Grace): between two of those a call returns at once.
func (r *Rings) Sweep(now time.Time) {
	t, iv, g := now.Unix(), r.Period.Seconds(), int64(Grace/time.Second)
	if t < r.nextSweep && r.nextSweep-t <= iv+g { // (a clock set back sweeps at once)
		return
	}
	r.nextSweep = (FloorDiv(t-g, iv)+1)*iv + g // the next moment a bucket comes due
	for _, s := range r.series {
		b := s.ring.Newest()
		if b == nil || b.frozen || b.Count == 0 { // (empty: opened by touch, for what a shorter period carries)
			continue
		}
		if now.Unix() >= b.Start+r.Period.Seconds()+int64(Grace/time.Second) {
			r.close(s, b)
			r.changed(s)
		}
	}
}

func (r *Rings) close(s *series, b *Bucket) {
	b.frozen = true
	s.stale = true
	if r.Closed != nil {
		r.Closed(s.host, s.kind, s.layout, b)
	}
	if b.fed {
		b.fed = false
		r.feed(s.host, s.kind, s.key, s.layout, b)
	}
	wide := b.Acc
	r.scratch = b.pack(s.layout, r.scratch)
	if b.Acc == nil && cap(wide) > 0 && len(r.spare) < maxSpare {
		// Closed (above) was the last to read them, and views hold
		// copies of open buckets: nobody else has these.
		r.spare = append(r.spare, wide[:0])
	}
	lits := b.Lits
	r.shareLits(s, b)
	if len(lits) > 0 && &b.Lits[0] != &lits[0] && len(r.spareLits) < maxSpare {
		r.spareLits = append(r.spareLits, lits[:0]) // replaced by the series' own: nobody else has them
	}
}

// shareLits lets a packed bucket share the literals of the series' last one
// when they are the same: device names and paths rarely change.
func (r *Rings) shareLits(s *series, b *Bucket) {
	if sameLits(b.Lits, s.lits) {
		b.Lits = s.lits
	} else {
		s.lits = b.Lits
	}
}

// sameLits compares literals by index and by interned value.
func sameLits(a, b []Lit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || len(a[i].Raw) != len(b[i].Raw) ||
			(len(a[i].Raw) > 0 && &a[i].Raw[0] != &b[i].Raw[0] && string(a[i].Raw) != string(b[i].Raw)) {
			return false
		}
	}
	return true
}

// changed records a change; the next View builds a new view.
func (r *Rings) changed(s *series) {
	s.version++
	s.ref.version.Store(s.version)
}

// Forget drops host's kind: its ring, its layout and its cached view.
func (r *Rings) Forget(host, kind string) {
	key := SeriesKey(host, kind)
	if s := r.series[key]; s != nil {
		s.forgotten = true
	}
	delete(r.series, key)
	r.refs.Delete(key)
}

// Len is how many (host, kind) series the rings hold.
func (r *Rings) Len() int { return len(r.series) }

// Has reports whether there is anything for host's kind. Any goroutine.
func (r *Rings) Has(host, kind string) bool {
	_, ok := r.refs.Load(SeriesKey(host, kind))
	return ok
}

// Cached returns the last built view of host's kind if nothing changed since
// it was built. known reports whether the series exists at all. Any goroutine.
func (r *Rings) Cached(host, kind string) (v *View, known bool) {
	ref, ok := r.refs.Load(SeriesKey(host, kind))
	if !ok {
		return nil, false
	}
	sr := ref.(*seriesRef)
	if v := sr.view.Load(); v != nil && v.Version == sr.version.Load() {
		return v, true
	}
	return nil, true
}

// View returns the current view of host's kind, building it if it changed,
// or nil if there is none.
func (r *Rings) View(host, kind string) *View {
	if s := r.series[SeriesKey(host, kind)]; s != nil {
		return r.fresh(s)
	}
	return nil
}

// Views returns a current view of every (host, kind).
func (r *Rings) Views() []*View {
	out := make([]*View, 0, len(r.series))
	for _, s := range r.series {
		out = append(out, r.fresh(s))
	}
	return out
}

// pending is what the shorter periods' open buckets carry of key's series
// that r has not had yet, merged (nil: nothing), and the layout to read it
// with: the source's open bucket when fed, with what the source has not
// had yet merged into it, as the source's bucket will be when it closes.
// The result is only to be read, before the next call: it may be the
// source's own bucket, or the source's scratch bucket.
func (r *Rings) pending(key string) (*Bucket, *Layout) {
	src := r.source
	if src == nil {
		return nil, nil
	}
	var own *Bucket
	var l *Layout
	if ss := src.series[key]; ss != nil {
		l = ss.layout
		if o := ss.ring.Newest(); o != nil && o.fed && !o.frozen {
			own = o
		}
	}
	p, pl := src.pending(key)
	if p == nil {
		return own, l
	}
	if l == nil || len(pl.Nodes) > len(l.Nodes) {
		l = pl
	}
	out := &src.pend
	iv := src.Period.Seconds()
	*out = Bucket{Start: FloorDiv(p.Start, iv) * iv, Acc: out.Acc[:0], Lits: out.Lits[:0]}
	if own != nil {
		out.Merge(own, l) // into an empty bucket: a copy
	}
	out.Merge(p, l)
	return out, l
}

// fresh returns s's view, building it if it is out of date.
// pendingShape is the start and count of what pending(key) would merge,
// without merging it: ok is false when there is nothing.
func (r *Rings) pendingShape(key string) (start int64, count uint32, ok bool) {
	src := r.source
	if src == nil {
		return 0, 0, false
	}
	var own *Bucket
	if ss := src.series[key]; ss != nil {
		if o := ss.ring.Newest(); o != nil && o.fed && !o.frozen {
			own = o
		}
	}
	pStart, pCount, pok := src.pendingShape(key)
	switch {
	case !pok && own == nil:
		return 0, 0, false
	case !pok:
		return own.Start, own.Count, true
	}
	iv := src.Period.Seconds()
	start, count = FloorDiv(pStart, iv)*iv, pCount
	if own != nil {
		count += own.Count
	}
	return start, count, true
}

// openShape is the start and count of the open bucket fresh would build
// for s (ok false: none), without copying or merging any accumulator.
func (r *Rings) openShape(s *series) (start int64, count uint32, ok bool) {
	n := s.ring.Newest()
	open := n != nil && !n.frozen
	if open {
		start, count = n.Start, n.Count
	}
	if pStart, pCount, pok := r.pendingShape(s.key); pok {
		switch st := s.ring.Start(pStart); {
		case open && start == st:
			count += pCount
		case !open && (n == nil || n.Start < st):
			start, count, open = st, pCount, true
		}
	}
	return start, count, open && count > 0
}

// LeanView is View for a writer that names, rather than writes, a bucket
// whose samples the shorter period's view fine holds every one of (see
// View.Covers): when fine covers the open bucket, the view's Open carries
// only its start and count, and OpenDerived says so. A writer that keeps
// each period's state this way (the snapshotter's journal entries and
// files) saves copying and merging the open buckets of the longer periods,
// which the shorter period covers nearly always. Such a view is not
// cached, nor returned to anyone else.
func (r *Rings) LeanView(host, kind string, fine *View) *View {
	s := r.series[SeriesKey(host, kind)]
	if s == nil {
		return nil
	}
	if v := s.ref.view.Load(); v != nil && v.Version == s.version {
		return v
	}
	start, count, ok := r.openShape(s)
	if !ok || fine == nil || !fine.Covers(start, r.Period.Seconds(), count) {
		return r.fresh(s)
	}
	// The cached view is out of date, and would keep the buckets it lists
	// alive after the ring let them go: a reader builds a new one.
	s.ref.view.Store(nil)
	return &View{Host: s.host, Kind: s.kind, Period: r.Period, Layout: s.layout, Closed: r.closedList(s), Version: s.version,
		Open: &Bucket{Start: start, Count: count, frozen: true}, OpenDerived: true}
}

// closedList is s's closed buckets as views share them, built again from
// the ring only when a bucket closed since.
func (r *Rings) closedList(s *series) []*Bucket {
	if s.stale || s.closed == nil {
		s.closed = s.ring.Frozen()
		s.stale = false
	}
	return s.closed
}

func (r *Rings) fresh(s *series) *View {
	if v := s.ref.view.Load(); v != nil && v.Version == s.version {
		return v
	}
	var open *Bucket
	n := s.ring.Newest()
	if n != nil && !n.frozen {
		open = n.Clone()
	}
	if o, l := r.pending(s.key); o != nil {
		if len(l.Nodes) > len(s.layout.Nodes) {
			s.layout = l
		}
		switch start := s.ring.Start(o.Start); {
		case open != nil && open.Start == start:
			open.Merge(o, s.layout)
		case open == nil && (n == nil || n.Start < start):
			open = NewBucket(start)
			open.Merge(o, s.layout)
		}
	}
	if open != nil {
		if open.Count == 0 {
			open = nil // opened by touch, and nothing carried yet
		} else {
			open.frozen = true
		}
	}
	v := &View{Host: s.host, Kind: s.kind, Period: r.Period, Layout: s.layout, Closed: r.closedList(s), Open: open, Version: s.version}
	s.ref.view.Store(v)
	return v
}
