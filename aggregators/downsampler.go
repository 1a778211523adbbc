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
// own timestamp, publishes every bucket it closes on
// ringwatch.agg.<host>.<kind>.<period>, and after every change publishes an
// immutable View that readers take without locks.
//
// A bucket closes when a sample for a later bucket arrives, or when the clock
// passes its end by Grace. A late sample for a closed bucket still within the
// ring is merged, and the corrected bucket is published again (consumers treat
// agg messages as upserts keyed by start).
type Downsampler struct {
	Period Period
	In     *actors.Mailbox[*Values]
	Pub    actors.Publisher // nil: closed buckets are not published
	Log    *slog.Logger

	series map[string]*series // owned by Run
	views  sync.Map           // key -> *atomic.Pointer[View]

	// Counters, for /healthz.
	TooOld, Future, Published atomic.Uint64
}

type series struct {
	host, kind string
	ring       *Ring
	layout     *Layout
	view       *atomic.Pointer[View]
	version    uint64
	buf        []byte
}

// NewDownsampler returns the downsampler of period p reading from in.
func NewDownsampler(p Period, in *actors.Mailbox[*Values], pub actors.Publisher, log *slog.Logger) *Downsampler {
	return &Downsampler{Period: p, In: in, Pub: pub, Log: log.With("period", p.Name), series: map[string]*series{}}
}

func seriesKey(host, kind string) string { return host + "\x00" + kind }

func (d *Downsampler) get(host, kind string) *series {
	k := seriesKey(host, kind)
	s := d.series[k]
	if s == nil {
		s = &series{host: host, kind: kind, ring: NewRing(d.Period.Seconds()), view: new(atomic.Pointer[View])}
		d.series[k] = s
		d.views.Store(k, s.view)
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
	d.publishView(s)
}

// View returns the current view of host's kind, if any.
func (d *Downsampler) View(host, kind string) *View {
	p, ok := d.views.Load(seriesKey(host, kind))
	if !ok {
		return nil
	}
	return p.(*atomic.Pointer[View]).Load()
}

// Views calls f with every current view.
func (d *Downsampler) Views(f func(*View)) {
	d.views.Range(func(_, p any) bool {
		if v := p.(*atomic.Pointer[View]).Load(); v != nil {
			f(v)
		}
		return true
	})
}

// Run consumes the mailbox until ctx is done, then drains what is queued.
func (d *Downsampler) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case v := <-d.In.C():
			d.Add(v, time.Now())
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

// Add puts one sample in its bucket. It is called by Run (and by tests that
// drive a downsampler directly); now is the hub's clock.
func (d *Downsampler) Add(v *Values, now time.Time) {
	if v.Time > now.Add(MaxFuture).Unix() {
		d.Future.Add(1)
		return
	}
	s := d.get(v.Host, v.Kind)
	if s.layout == nil || len(v.Layout.Nodes) >= len(s.layout.Nodes) {
		s.layout = v.Layout
	}
	b, newest, prev := s.ring.Place(v.Time)
	if b == nil {
		d.TooOld.Add(1)
		return
	}
	if prev != nil && !prev.frozen {
		d.close(s, prev)
	}
	switch {
	case b.frozen: // a late sample for a closed bucket: correct it and publish again
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
	d.publishView(s)
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
			d.publishView(s)
		}
	}
}

func (d *Downsampler) close(s *series, b *Bucket) {
	b.frozen = true
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

func (d *Downsampler) publishView(s *series) {
	bs := s.ring.Buckets()
	if n := len(bs); n > 0 && !bs[n-1].frozen {
		bs[n-1] = bs[n-1].Clone()
		bs[n-1].frozen = true
	}
	s.version++
	s.view.Store(&View{Host: s.host, Kind: s.kind, Period: d.Period, Layout: s.layout, Buckets: bs, Version: s.version})
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
