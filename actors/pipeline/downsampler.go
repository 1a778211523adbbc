package pipeline

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// Downsampler is the actor that keeps one period's rings for every (host,
// kind) (aggregators.Rings). It takes flattened samples from its mailbox,
// and publishes every bucket that closes on ringwatch.agg.<host>.<kind>.<period>.
//
// Readers on other goroutines call View and Views. A view that is still
// current is read without asking (Rings.Cached); otherwise the request goes
// to the actor, which builds the view between two samples. When Run has
// returned it builds a fresh view of everything, so readers after shutdown
// (the final snapshot) find them cached. When Run is not serving (before it
// starts: restore; tests that drive Add themselves), View builds on the
// caller's goroutine, which is then the only one touching the rings.
type Downsampler struct {
	Period aggregators.Period
	In     *actors.Mailbox[*aggregators.Values]
	Pub    actors.Publisher // nil: closed buckets are not published
	Log    *slog.Logger

	rings *aggregators.Rings
	run   atomic.Pointer[runState]
	buf   []byte // owned: encodes closed buckets

	// Counters, for the stats.
	Processed, TooOld, Future, Published, PublishErrors atomic.Uint64
}

type runState struct {
	asks chan viewAsk
	done chan struct{}
}

type viewAsk struct {
	host, kind string // one series, or every series when both are empty
	reply      chan []*aggregators.View
}

// NewDownsampler returns the downsampler of period p reading from in.
func NewDownsampler(p aggregators.Period, in *actors.Mailbox[*aggregators.Values], pub actors.Publisher, log *slog.Logger) *Downsampler {
	d := &Downsampler{Period: p, In: in, Pub: pub, Log: log.With("period", p.Name), rings: aggregators.NewRings(p)}
	if pub != nil {
		d.rings.Closed = d.publish
	}
	return d
}

// Restore loads buckets (in any order) for host and kind. Call it before Run.
func (d *Downsampler) Restore(host, kind string, l *aggregators.Layout, buckets []*aggregators.Bucket) {
	d.rings.Restore(host, kind, l, buckets)
}

// View returns the current view of host's kind, or nil if there is none.
func (d *Downsampler) View(host, kind string) *aggregators.View {
	v, known := d.rings.Cached(host, kind)
	if v != nil || !known {
		return v
	}
	if vs, ok := d.ask(host, kind); ok {
		if len(vs) == 1 {
			return vs[0]
		}
		return nil
	}
	return d.rings.View(host, kind)
}

// Views returns a current view of every (host, kind).
func (d *Downsampler) Views() []*aggregators.View {
	if vs, ok := d.ask("", ""); ok {
		return vs
	}
	return d.rings.Views()
}

// Has reports whether the downsampler has anything for host's kind.
func (d *Downsampler) Has(host, kind string) bool { return d.rings.Has(host, kind) }

// Running reports whether Run is serving view requests.
func (d *Downsampler) Running() bool { return d.run.Load() != nil }

// ask has Run build fresh views; ok is false when Run is not serving.
func (d *Downsampler) ask(host, kind string) ([]*aggregators.View, bool) {
	rs := d.run.Load()
	if rs == nil {
		return nil, false
	}
	a := viewAsk{host: host, kind: kind, reply: make(chan []*aggregators.View, 1)}
	select {
	case rs.asks <- a:
		return <-a.reply, true
	case <-rs.done:
		return nil, false
	}
}

func (d *Downsampler) answer(a viewAsk) {
	if a.host == "" && a.kind == "" {
		a.reply <- d.rings.Views()
		return
	}
	if v := d.rings.View(a.host, a.kind); v != nil {
		a.reply <- []*aggregators.View{v}
		return
	}
	a.reply <- nil
}

// Run consumes the mailbox and answers view requests until ctx is done, then
// drains what is queued and builds fresh views of everything.
func (d *Downsampler) Run(ctx context.Context) error {
	rs := &runState{asks: make(chan viewAsk), done: make(chan struct{})}
	d.run.Store(rs)
	defer func() {
		d.rings.Views()
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
			d.rings.Sweep(now)
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

// Add puts one sample in its bucket and counts it. Only the goroutine that
// owns the downsampler calls it: Run, or a test that drives it without Run.
func (d *Downsampler) Add(v *aggregators.Values, now time.Time) {
	switch d.rings.Add(v, now) {
	case aggregators.ErrFuture:
		d.Future.Add(1)
	case aggregators.ErrTooOld:
		d.TooOld.Add(1)
	}
	d.Processed.Add(1)
}

// Sweep closes the buckets the clock has passed (see aggregators.Rings.Sweep).
func (d *Downsampler) Sweep(now time.Time) { d.rings.Sweep(now) }

func (d *Downsampler) publish(host, kind string, l *aggregators.Layout, b *aggregators.Bucket) {
	d.buf = aggregators.AppendAggMessage(d.buf[:0], host, kind, d.Period, l, b)
	subject := bus.Agg(host, kind, d.Period.Name)
	if err := d.Pub.Publish(subject, d.buf); err != nil {
		// A closed connection (the hub is stopping) or a bucket over the
		// bus's payload limit: counted, and logged the 1st, 2nd, 4th ... time.
		if n := d.PublishErrors.Add(1); n&(n-1) == 0 {
			d.Log.Warn("cannot publish a closed bucket", "subject", subject, "bytes", len(d.buf), "err", err, "failures", n)
		}
		return
	}
	d.Published.Add(1)
}

var _ actors.Actor = (*Downsampler)(nil)
