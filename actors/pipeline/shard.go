package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// ShardQueue is each shard's mailbox capacity: raw samples waiting to be
// decoded, seconds of a large fleet.
const ShardQueue = 16384

// raw is one raw sample routed to a shard: what the ingest actor checked.
type raw struct {
	host, kind string
	data       []byte
	sent       int64  // Unix nanoseconds from the Ringwatch-Sent header; 0: none
	seq        string // the Ringwatch-Seq header, or ""
}

// Shard is the actor that owns a share of the hosts (by a hash of the host
// token): their flatteners and their rings in all five periods. It decodes
// each sample once, keeps it as the latest, and adds it to the five periods
// on its own goroutine, so a sample costs at most one hand-off from the
// ingest actor (none when the shard is idle: see Deliver) and the shards use
// the machine's cores in parallel.
//
// A bucket that closes is published on ringwatch.agg.<host>.<kind>.<period>
// when somebody subscribes to it (the bus reports interest); encoding closed
// buckets nobody reads was an eighth of the hub's CPU.
//
// Readers on other goroutines call View and Views: a view still current is
// read without asking (aggregators.Rings.Cached); otherwise the request goes
// to the actor, which builds it between two samples. When Run is not serving
// (before it starts: restore; after it stopped), the caller builds the view
// itself, being then the only goroutine touching the rings.
type Shard struct {
	ID  int
	In  *actors.Mailbox[raw]
	Pub actors.Publisher // nil: closed buckets are not published
	Log *slog.Logger

	p       *Pipeline
	series  map[string]*shardSeries // owned, by series key
	shared  *aggregators.Shared     // the flatteners' interned literals and layouts
	scratch aggregators.Values      // the sample being added, reused
	rings   [aggregators.NumPeriods]*aggregators.Rings
	periods [aggregators.NumPeriods]periodCounters
	run     atomic.Pointer[runState]
	buf     []byte // owned: encodes closed buckets
	ew      *actors.ErrorWindow

	// mu is held by whoever works on the shard's state while Run runs: Run
	// itself, or a sender that Deliver lets add its sample in place.
	// pending counts the samples sent to the mailbox and not yet added.
	mu      sync.Mutex
	pending atomic.Int64
	inPlace atomic.Uint64 // samples Deliver's senders added

	forgets chan string // hosts to forget (see Pipeline.expire)

	// Malformed counts samples that could not be decoded; LeavesDropped the
	// values left out for the kind's series limit or a type conflict;
	// LongLiterals the strings left out of buckets for their length.
	Malformed, LeavesDropped, LongLiterals atomic.Uint64
	// OutOfRange counts samples refused for a number out of float64's range
	// (1e999), which standard JSON decoders refuse.
	OutOfRange atomic.Uint64
}

type periodCounters struct {
	processed, tooOld, future, published, publishErrors, unheard atomic.Uint64
	latency                                                      *actors.Histogram
}

type runState struct {
	asks     chan viewAsk
	restores chan restoreJob
	done     chan struct{}
}

// restoreJob is one (host, kind)'s saved state for its shard.
type restoreJob struct {
	host, kind string
	layout     *aggregators.Layout
	buckets    map[string][]*aggregators.Bucket
	last       *aggregators.Latest // nil: none saved
	done       chan struct{}       // closed once restored, when Run restores it
}

type viewAsk struct {
	period     int    // index in aggregators.Periods; -1: every period; leanAsk: one series' lean views
	host, kind string // one series, or every series when both are empty
	reply      chan []*aggregators.View
}

func newShard(id int, p *Pipeline, pub actors.Publisher, log *slog.Logger) *Shard {
	s := &Shard{ID: id, p: p, Pub: pub, Log: log.With("shard", id), series: map[string]*shardSeries{},
		shared: aggregators.NewShared(),
		In:     actors.NewMailbox[raw]("shard/"+strconv.Itoa(id), ShardQueue), forgets: make(chan string, 1024)}
	for i, per := range aggregators.Periods {
		s.rings[i] = aggregators.NewRings(per)
		s.periods[i].latency = actors.NewHistogram(actors.LatencyBounds)
		if pub != nil {
			s.rings[i].Closed = func(host, kind string, l *aggregators.Layout, b *aggregators.Bucket) {
				s.publish(i, host, kind, l, b)
			}
		}
	}
	aggregators.Chain(s.rings[:])
	return s
}

// shardSeries is what a shard keeps of one (host, kind) besides its rings:
// its flattener, and where its series are in each period's rings.
type shardSeries struct {
	f      *aggregators.Flattener
	rings  [aggregators.NumPeriods]aggregators.Handle
	latest *atomic.Pointer[aggregators.Latest] // its slot (Pipeline.latestSlot); nil until the first sample
}

func (s *Shard) seriesOf(key, kind string) *shardSeries {
	se := s.series[key]
	if se == nil {
		k := s.p.kinds[kind]
		se = &shardSeries{f: aggregators.NewFlattener(nil, aggregators.ParsePatterns(k.Counters...)).WithLimit(k.MaxSeries).WithShared(s.shared)}
		s.series[key] = se
	}
	return se
}

// restoreNow seeds one (host, kind): on Run's goroutine while it runs,
// else (before it starts, or after it stopped) on the caller's.
func (s *Shard) restoreNow(j restoreJob) {
	if rs := s.run.Load(); rs != nil {
		j.done = make(chan struct{})
		select {
		case rs.restores <- j:
			<-j.done
			return
		case <-rs.done:
		}
	}
	s.restore(j)
}

// restore seeds one (host, kind); only the goroutine that owns the shard
// calls it.
func (s *Shard) restore(j restoreJob) {
	k := s.p.kinds[j.kind]
	l := s.shared.Canonical(j.layout)
	key := aggregators.SeriesKey(j.host, j.kind)
	se := &shardSeries{f: aggregators.NewFlattener(l, aggregators.ParsePatterns(k.Counters...)).
		WithLimit(k.MaxSeries).WithShared(s.shared)}
	s.series[key] = se
	for i, per := range aggregators.Periods {
		if bs := j.buckets[per.Name]; len(bs) > 0 {
			s.rings[i].Restore(j.host, j.kind, l, bs)
		}
	}
	if j.last != nil {
		se.latest = s.p.latestSlot(key)
		keep(se.latest, j.last)
	}
	if j.done != nil {
		close(j.done)
	}
}

// Run decodes and stores the samples of its mailbox and answers view
// requests until ctx is done, then drains its mailbox and builds fresh views
// of everything.
func (s *Shard) Run(ctx context.Context) error {
	rs := &runState{asks: make(chan viewAsk), restores: make(chan restoreJob), done: make(chan struct{})}
	s.ew = actors.NewErrorWindow(s.Log, 30*time.Second)
	s.run.Store(rs)
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.ew.Flush()
		for _, r := range s.rings {
			r.Views()
		}
		s.run.Store(nil)
		close(rs.done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case m := <-s.In.C():
			s.addQueued(m)
		case a := <-rs.asks:
			s.mu.Lock()
			s.answer(a)
			s.mu.Unlock()
		case j := <-rs.restores:
			s.mu.Lock()
			s.restore(j)
			s.mu.Unlock()
		case host := <-s.forgets:
			s.mu.Lock()
			s.forget(host)
			s.mu.Unlock()
		case now := <-tick.C:
			s.mu.Lock()
			for _, r := range s.rings {
				r.Sweep(now)
			}
			s.ew.Tick(now)
			s.mu.Unlock()
		case <-ctx.Done():
			for {
				select {
				case m := <-s.In.C():
					s.addQueued(m)
				default:
					return nil
				}
			}
		}
	}
}

func (s *Shard) addQueued(m raw) {
	s.mu.Lock()
	s.Add(m, time.Now())
	s.pending.Add(-1)
	s.mu.Unlock()
}

// Deliver hands one checked sample to the shard. When inPlace allows it,
// Run runs, nothing of the shard's waits in its mailbox and nobody works on
// it, the sender adds the sample itself, at once: a sample then costs no
// wake-up of the shard's goroutine, which at a few thousand samples a
// second was one of the hub's larger costs (the scheduler's). Otherwise
// the sample joins the mailbox behind those before it, for the shard's
// goroutine, so that shards work in parallel when samples come faster than
// one goroutine adds them; a full mailbox drops and counts it.
func (s *Shard) Deliver(r raw, inPlace bool) bool {
	if inPlace && s.addInPlace(r) {
		return true
	}
	return s.enqueue(s.In.Offer, r)
}

// DeliverWait is Deliver to the mailbox, waiting for room while ctx lasts:
// for a backlog, which the shards take in parallel.
func (s *Shard) DeliverWait(ctx context.Context, r raw) bool {
	return s.enqueue(func(r raw) bool { return s.In.Put(ctx, r) }, r)
}

// enqueue puts r in the mailbox with put, counting it as pending until Run
// adds it.
func (s *Shard) enqueue(put func(raw) bool, r raw) bool {
	s.pending.Add(1)
	if !put(r) {
		s.pending.Add(-1)
		return false
	}
	return true
}

// addInPlace adds r on the caller's goroutine if Deliver may (see there).
// A sample that was sent to the mailbox counts in pending until it is
// added, so a later one is never added before it.
func (s *Shard) addInPlace(r raw) bool {
	if s.pending.Load() != 0 || s.run.Load() == nil || !s.mu.TryLock() {
		return false
	}
	defer s.mu.Unlock()
	if s.pending.Load() != 0 || s.run.Load() == nil {
		return false
	}
	s.Add(r, time.Now())
	s.inPlace.Add(1)
	return true
}

// Add decodes one sample, keeps it as its host's latest, and puts it in the
// bucket of its timestamp in every period. Only whoever owns the shard's
// state calls it: the holder of mu while Run runs (Run, or Deliver's
// sender), or a test or benchmark that drives it without Run.
func (s *Shard) Add(m raw, now time.Time) {
	key := aggregators.SeriesKey(m.host, m.kind)
	v := &s.scratch // the rings copy what they keep
	se := s.seriesOf(key, m.kind)
	f := se.f
	dropped, long := f.Dropped, f.LongLiterals
	err := f.FlattenInto(m.data, v)
	if d := f.Dropped - dropped; d > 0 {
		s.LeavesDropped.Add(d)
	}
	if d := f.LongLiterals - long; d > 0 {
		s.LongLiterals.Add(d)
	}
	if err != nil {
		if errors.Is(err, aggregators.ErrOutOfRange) {
			s.OutOfRange.Add(1)
		} else {
			s.Malformed.Add(1)
		}
		if s.ew != nil {
			s.ew.Warn("dropped message", fmt.Errorf("%s: %w", bus.Raw(m.host, m.kind), err))
		}
		return
	}
	v.Host, v.Kind, v.Key, v.Sent = m.host, m.kind, key, m.sent
	// Each period's rings take the closed buckets of the period before
	// (aggregators.Chain).
	var errs [aggregators.NumPeriods]error
	aggregators.AddChained(s.rings[:], se.rings[:], v, now, errs[:])
	for i, err := range errs {
		c := &s.periods[i]
		switch err {
		case aggregators.ErrFuture:
			c.future.Add(1)
		case aggregators.ErrTooOld:
			c.tooOld.Add(1)
		}
		c.processed.Add(1)
	}
	if v.Sent > 0 { // in every period's rings now
		lat := time.Since(time.Unix(0, v.Sent))
		for i := range s.periods {
			s.periods[i].latency.Observe(lat)
		}
	}
	// Last, so that a reader who sees this sample as the latest finds it in
	// the periods too.
	l := &aggregators.Latest{Host: m.host, Kind: m.kind, Raw: m.data, Time: v.Time, Received: now, Seq: m.seq}
	if k := s.p.kinds[m.kind]; k.Merge != nil {
		s.addPart(l, v, k.Merge)
	}
	if se.latest == nil {
		se.latest = s.p.latestSlot(key)
	}
	keep(se.latest, l)
}

// MaxParts bounds the parts of one partial sample.
const MaxParts = 4096

// addPart makes l, a part of a partial sample (top-level "part" of
// "parts"), carry the newest part of every index.
func (s *Shard) addPart(l *aggregators.Latest, v *aggregators.Values, merge func([][]byte) ([]byte, error)) {
	part, parts := v.Layout.Lookup("part"), v.Layout.Lookup("parts")
	if part == nil || parts == nil {
		return
	}
	i, n := v.Num[part.Index], v.Num[parts.Index]
	if !(n >= 1 && n <= MaxParts && i >= 0 && i < n && i == float64(int(i))) {
		return
	}
	all := make([][]byte, int(n))
	if prev := s.p.latestOf(l.Host, l.Kind); prev != nil && len(prev.Parts) == len(all) {
		copy(all, prev.Parts)
	}
	all[int(i)] = l.Raw
	l.Parts, l.Merge = all, merge
}

// forget drops everything the shard has of host.
func (s *Shard) forget(host string) {
	for kind := range s.p.kinds {
		delete(s.series, aggregators.SeriesKey(host, kind))
		for _, r := range s.rings {
			r.Forget(host, kind)
		}
	}
}

// Sweep closes the buckets the clock has passed, in every period.
func (s *Shard) Sweep(now time.Time) {
	for _, r := range s.rings {
		r.Sweep(now)
	}
}

// interest is implemented by publishers that know whether anybody
// subscribes to a subject (the hub's in-process bus connection).
type interest interface {
	Interest(subject string) bool
}

func (s *Shard) publish(period int, host, kind string, l *aggregators.Layout, b *aggregators.Bucket) {
	c := &s.periods[period]
	per := aggregators.Periods[period]
	subject := bus.Agg(host, kind, per.Name)
	if i, ok := s.Pub.(interest); ok && !i.Interest(subject) {
		c.unheard.Add(1)
		return
	}
	s.buf = aggregators.AppendAggMessage(s.buf[:0], host, kind, per, l, b)
	if err := s.Pub.Publish(subject, s.buf); err != nil {
		// A closed connection (the hub is stopping) or a bucket over the
		// bus's payload limit: counted, and logged the 1st, 2nd, 4th ... time.
		if n := c.publishErrors.Add(1); n&(n-1) == 0 {
			s.Log.Warn("cannot publish a closed bucket", "subject", subject, "bytes", len(s.buf), "err", err, "failures", n)
		}
		return
	}
	c.published.Add(1)
}

// View returns the current view of host's kind over period i, or nil.
func (s *Shard) View(i int, host, kind string) *aggregators.View {
	v, known := s.rings[i].Cached(host, kind)
	if v != nil || !known {
		return v
	}
	if vs, ok := s.ask(viewAsk{period: i, host: host, kind: kind}); ok {
		if len(vs) == 1 {
			return vs[0]
		}
		return nil
	}
	return s.rings[i].View(host, kind)
}

// leanAsk asks Run for one series' views of every period, as LeanViews.
const leanAsk = -2

// LeanViews returns the current views of host's kind, one per period
// (nil where it has none), for a writer of its state: built at once, and
// each longer period's open bucket only named where the period before it
// covers it (aggregators.Rings.LeanView).
func (s *Shard) LeanViews(host, kind string) []*aggregators.View {
	if vs, ok := s.ask(viewAsk{period: leanAsk, host: host, kind: kind}); ok {
		return vs
	}
	return s.leanViews(host, kind)
}

func (s *Shard) leanViews(host, kind string) []*aggregators.View {
	out := make([]*aggregators.View, len(s.rings))
	for i, r := range s.rings {
		if i == 0 {
			out[i] = r.View(host, kind)
		} else {
			out[i] = r.LeanView(host, kind, out[i-1])
		}
	}
	return out
}

// Views returns a current view of every (period, host, kind) of the shard.
func (s *Shard) Views() []*aggregators.View {
	if vs, ok := s.ask(viewAsk{period: -1}); ok {
		return vs
	}
	return s.allViews()
}

func (s *Shard) allViews() []*aggregators.View {
	var out []*aggregators.View
	for _, r := range s.rings {
		out = append(out, r.Views()...)
	}
	return out
}

// Has reports whether the shard has anything for host's kind in any period.
func (s *Shard) Has(host, kind string) bool {
	for _, r := range s.rings {
		if r.Has(host, kind) {
			return true
		}
	}
	return false
}

// Running reports whether Run is serving view requests.
func (s *Shard) Running() bool { return s.run.Load() != nil }

// ask has Run build fresh views; ok is false when Run is not serving.
func (s *Shard) ask(a viewAsk) ([]*aggregators.View, bool) {
	rs := s.run.Load()
	if rs == nil {
		return nil, false
	}
	a.reply = make(chan []*aggregators.View, 1)
	select {
	case rs.asks <- a:
		return <-a.reply, true
	case <-rs.done:
		return nil, false
	}
}

func (s *Shard) answer(a viewAsk) {
	switch a.period {
	case -1:
		a.reply <- s.allViews()
		return
	case leanAsk:
		a.reply <- s.leanViews(a.host, a.kind)
		return
	}
	if v := s.rings[a.period].View(a.host, a.kind); v != nil {
		a.reply <- []*aggregators.View{v}
		return
	}
	a.reply <- nil
}

var _ actors.Actor = (*Shard)(nil)
