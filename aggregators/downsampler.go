package aggregators

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus"
)

// MaxFuture is how far ahead of the hub's clock a sample may be.
const MaxFuture = time.Minute

// Grace is how long after its end an open bucket waits for late samples before
// a silent host's bucket is closed by the clock.
const Grace = 2 * time.Second

// Downsampler is the actor that keeps one period's rings for every (host, kind).
// It receives flattened samples in its mailbox, puts each in the bucket of its
// own timestamp, and publishes every bucket it closes on
// ringwatch.agg.<host>.<kind>.<period>.
//
// A bucket closes when a sample for a later bucket arrives, or when the clock
// passes its end by Grace. A late sample for a closed bucket still within the
// ring is merged, and the corrected bucket is published again (consumers treat
// agg messages as upserts keyed by start).
//
// Readers get immutable Views, built on demand: View returns the cached view
// when nothing changed since it was built, and otherwise asks the actor, which
// builds a fresh one and caches it. A sample thus costs no copying however
// often it arrives, and a change is copied once however many readers want it.
// When Run returns it builds a fresh view of everything, so readers after
// shutdown (the final snapshot) find them cached. When Run is not serving
// (before it starts: restore; tests that drive Add themselves), View builds on
// the caller's goroutine, which is then the only one touching the rings.
type Downsampler struct {
	Period Period
	In     *actors.Mailbox[*Values]
	Pub    actors.Publisher // nil: closed buckets are not published
	Log    *slog.Logger

	series map[string]*series // owned by the goroutine that runs Add
	refs   sync.Map           // key -> *seriesRef
	run    atomic.Pointer[runState]

	// Counters, for /healthz.
	Processed, TooOld, Future, Published atomic.Uint64
}

type runState struct {
	asks chan viewAsk
	done chan struct{}
}

type viewAsk struct {
	key   string // one series, or every series when empty
	reply chan []*View
}

// seriesRef is what readers may touch of a series: its last built view and
// the version it should have.
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
	buf             []byte
	closed          []*Bucket // the frozen buckets of the current view, shared
	stale           bool      // closed must be rebuilt from the ring
}

// NewDownsampler returns the downsampler of period p reading from in.
func NewDownsampler(p Period, in *actors.Mailbox[*Values], pub actors.Publisher, log *slog.Logger) *Downsampler {
	return &Downsampler{Period: p, In: in, Pub: pub, Log: log.With("period", p.Name), series: map[string]*series{}}
}

func seriesKey(host, kind string) string { return host + "\x00" + kind }

func (d *Downsampler) get(host, kind string) *series {
	return d.getKey(seriesKey(host, kind), host, kind)
}

func (d *Downsampler) getKey(k, host, kind string) *series {
	s := d.series[k]
	if s == nil {
		s = &series{key: k, host: host, kind: kind, ring: NewRing(d.Period.Seconds()), ref: &seriesRef{}}
		d.series[k] = s
		d.refs.Store(k, s.ref)
	}
	return s
}

// Restore loads buckets (in any order) for host and kind. Call it before Run.
func (d *Downsampler) Restore(host, kind string, l *Layout, buckets []*Bucket) {
	s := d.get(host, kind)
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
		b.frozen = b != s.ring.Newest() // the newest may still be open
	}
	s.stale = true
	d.changed(s)
}

// View returns the current view of host's kind, or nil if there is none.
func (d *Downsampler) View(host, kind string) *View {
	r, ok := d.refs.Load(seriesKey(host, kind))
	if !ok {
		return nil
	}
	ref := r.(*seriesRef)
	if v := ref.view.Load(); v != nil && v.Version == ref.version.Load() {
		return v
	}
	if vs, ok := d.ask(seriesKey(host, kind)); ok {
		if len(vs) == 1 {
			return vs[0]
		}
		return nil
	}
	return d.fresh(d.series[seriesKey(host, kind)])
}

// Running reports whether Run is serving view requests.
func (d *Downsampler) Running() bool { return d.run.Load() != nil }

// Has reports whether the downsampler has anything for host's kind.
func (d *Downsampler) Has(host, kind string) bool {
	_, ok := d.refs.Load(seriesKey(host, kind))
	return ok
}

// Views returns a current view of every (host, kind).
func (d *Downsampler) Views() []*View {
	if vs, ok := d.ask(""); ok {
		return vs
	}
	out := make([]*View, 0, len(d.series))
	for _, s := range d.series {
		out = append(out, d.fresh(s))
	}
	return out
}

// ask has Run build fresh views; ok is false when Run is not serving.
func (d *Downsampler) ask(key string) ([]*View, bool) {
	rs := d.run.Load()
	if rs == nil {
		return nil, false
	}
	a := viewAsk{key: key, reply: make(chan []*View, 1)}
	select {
	case rs.asks <- a:
		return <-a.reply, true
	case <-rs.done:
		return nil, false
	}
}

func (d *Downsampler) answer(a viewAsk) {
	if a.key != "" {
		if s := d.series[a.key]; s != nil {
			a.reply <- []*View{d.fresh(s)}
			return
		}
		a.reply <- nil
		return
	}
	out := make([]*View, 0, len(d.series))
	for _, s := range d.series {
		out = append(out, d.fresh(s))
	}
	a.reply <- out
}

// Run consumes the mailbox and answers view requests until ctx is done, then
// drains what is queued and publishes fresh views of everything.
func (d *Downsampler) Run(ctx context.Context) error {
	rs := &runState{asks: make(chan viewAsk), done: make(chan struct{})}
	d.run.Store(rs)
	defer func() {
		for _, s := range d.series {
			d.fresh(s)
		}
		d.run.Store(nil)
		close(rs.done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case v := <-d.In.C():
			d.Add(v, time.Now())
		case a := <-rs.asks:
			d.answer(a)
		case now := <-tick.C:
			d.Sweep(now)
		case <-ctx.Done():
			for {
				select {
				case v := <-d.In.C():
					d.Add(v, time.Now())
				default:
					return nil
				}
			}
		}
	}
}

// Add puts one sample in its bucket. Only the goroutine that owns the
// downsampler calls it: Run, or a test that drives it without Run.
func (d *Downsampler) Add(v *Values, now time.Time) {
	d.Processed.Add(1)
	if v.Time > now.Add(MaxFuture).Unix() {
		d.Future.Add(1)
		return
	}
	k := v.key
	if k == "" { // built outside the ingest stage (tests, tools)
		k = seriesKey(v.Host, v.Kind)
	}
	s := d.getKey(k, v.Host, v.Kind)
	if s.layout == nil || len(v.Layout.Nodes) >= len(s.layout.Nodes) {
		s.layout = v.Layout
	}
	b, newest, prev := s.ring.Place(v.Time)
	if b == nil {
		d.TooOld.Add(1)
		return
	}
	if newest && b.Count == 0 {
		s.stale = true // a new bucket may have pushed the oldest out
	}
	if prev != nil && !prev.frozen {
		d.close(s, prev)
	}
	switch {
	case b.frozen: // a late sample for a closed bucket: correct it and publish again
		s.stale = true
		c := b.Clone()
		c.Add(v)
		s.ring.Replace(c)
		d.close(s, c)
	case !newest: // a late sample for a bucket that did not exist yet
		b.Add(v)
		d.close(s, b)
	default:
		b.Add(v)
	}
	d.changed(s)
}

// Sweep closes open buckets whose end is Grace in the past at now.
func (d *Downsampler) Sweep(now time.Time) {
	for _, s := range d.series {
		b := s.ring.Newest()
		if b == nil || b.frozen {
			continue
		}
		if now.Unix() >= b.Start+d.Period.Seconds()+int64(Grace/time.Second) {
			d.close(s, b)
			d.changed(s)
		}
	}
}

func (d *Downsampler) close(s *series, b *Bucket) {
	b.frozen = true
	s.stale = true
	if d.Pub == nil {
		return
	}
	s.buf = AppendAggMessage(s.buf[:0], s.host, s.kind, d.Period, s.layout, b)
	if err := d.Pub.Publish(bus.Agg(s.host, s.kind, d.Period.Name), s.buf); err != nil {
		d.Log.Warn("publish closed bucket", "err", err)
		return
	}
	d.Published.Add(1)
}

// changed records a change; the next View builds a new view.
func (d *Downsampler) changed(s *series) {
	s.version++
	s.ref.version.Store(s.version)
}

// fresh returns s's view, building it if it is out of date.
func (d *Downsampler) fresh(s *series) *View {
	if v := s.ref.view.Load(); v != nil && v.Version == s.version {
		return v
	}
	var open *Bucket
	if n := s.ring.Newest(); n != nil && !n.frozen {
		open = n.Clone()
		open.frozen = true
	}
	if s.stale || s.closed == nil {
		s.closed = s.closed[:0:0]
		for _, b := range s.ring.Buckets() {
			if b.frozen {
				s.closed = append(s.closed, b)
			}
		}
		s.stale = false
	}
	v := &View{Host: s.host, Kind: s.kind, Period: d.Period, Layout: s.layout, Closed: s.closed, Open: open, Version: s.version}
	s.ref.view.Store(v)
	return v
}

// AppendAggMessage encodes one closed bucket as published on the agg subject:
// {"host","kind","period","start","interval","count","mean","min","max"}.
func AppendAggMessage(dst []byte, host, kind string, p Period, l *Layout, b *Bucket) []byte {
	dst = append(dst, `{"host":`...)
	dst = AppendString(dst, host)
	dst = append(dst, `,"kind":`...)
	dst = AppendString(dst, kind)
	dst = append(dst, `,"period":`...)
	dst = AppendString(dst, p.Name)
	dst = append(dst, `,"start":`...)
	dst = appendInt(dst, b.Start)
	dst = append(dst, `,"interval":`...)
	dst = appendInt(dst, p.Seconds())
	dst = append(dst, `,"count":`...)
	dst = appendInt(dst, int64(b.Count))
	dst = append(dst, `,"mean":`...)
	dst = AppendSample(dst, l, b, Mean)
	dst = append(dst, `,"min":`...)
	dst = AppendSample(dst, l, b, Min)
	dst = append(dst, `,"max":`...)
	dst = AppendSample(dst, l, b, Max)
	return append(dst, '}')
}

var _ actors.Actor = (*Downsampler)(nil)
