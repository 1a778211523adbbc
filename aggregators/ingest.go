package aggregators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus"
)

// Latest is the newest raw sample of one (host, kind), as published.
type Latest struct {
	Host, Kind string
	Raw        []byte    // the sample's JSON, byte for byte
	Time       int64     // the sample's timestamp, Unix seconds
	Received   time.Time // when the hub got it; zero if restored from disk
}

// Ingest is the actor that decodes raw samples once for all five periods. It
// subscribes to ringwatch.raw.*.*, flattens each sample of a registered kind
// against that (host, kind)'s layout, keeps it as the latest sample, and offers
// the flattened values to every downsampler's mailbox.
//
// Decoding once and fanning out in process keeps ingest at one parse per sample
// (see docs/ARCHITECTURE.md for the budget); a malformed or unknown message is
// counted, reported once per window, and dropped.
type Ingest struct {
	Conn   *bus.Conn
	Kinds  map[string]Kind
	Outs   []*actors.Mailbox[*Values]
	Log    *slog.Logger
	Window time.Duration // problem report window; 30 s when zero

	flatteners map[string]*Flattener // owned by Run
	latest     sync.Map              // key -> *atomic.Pointer[Latest]
	sub        atomic.Pointer[nats.Subscription]

	// Counters, for /healthz.
	Received, Malformed, UnknownKind, BadSchema, Dropped atomic.Uint64
}

// NewIngest wires an ingest stage.
func NewIngest(conn *bus.Conn, kinds []Kind, outs []*actors.Mailbox[*Values], log *slog.Logger) *Ingest {
	m := make(map[string]Kind, len(kinds))
	for _, k := range kinds {
		m[k.Name] = k
	}
	return &Ingest{Conn: conn, Kinds: m, Outs: outs, Log: log, flatteners: map[string]*Flattener{}}
}

// Restore seeds host's kind with a layout and its last raw sample. Call it before Run.
func (in *Ingest) Restore(host, kind string, l *Layout, last []byte, lastTime int64) {
	k, ok := in.Kinds[kind]
	if !ok {
		return
	}
	in.flatteners[seriesKey(host, kind)] = NewFlattener(l, ParsePatterns(k.Counters...)).WithLimit(k.MaxSeries)
	if last != nil {
		in.store(&Latest{Host: host, Kind: kind, Raw: last, Time: lastTime})
	}
}

// Latest returns the newest sample of host's kind.
func (in *Ingest) Latest(host, kind string) *Latest {
	p, ok := in.latest.Load(seriesKey(host, kind))
	if !ok {
		return nil
	}
	return p.(*atomic.Pointer[Latest]).Load()
}

// AllLatest lists the newest sample of every (host, kind), sorted by host and kind.
func (in *Ingest) AllLatest() []*Latest {
	var out []*Latest
	in.latest.Range(func(_, p any) bool {
		if l := p.(*atomic.Pointer[Latest]).Load(); l != nil {
			out = append(out, l)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func (in *Ingest) store(l *Latest) {
	k := seriesKey(l.Host, l.Kind)
	p, ok := in.latest.Load(k)
	if !ok {
		p, _ = in.latest.LoadOrStore(k, new(atomic.Pointer[Latest]))
	}
	p.(*atomic.Pointer[Latest]).Store(l)
}

// Run subscribes and processes until ctx is done. On the way out it flushes the
// connection, so every sample published before the pollers stopped reaches the
// mailboxes, and drains what was delivered.
func (in *Ingest) Run(ctx context.Context) error {
	window := in.Window
	if window <= 0 {
		window = 30 * time.Second
	}
	ew := actors.NewErrorWindow(in.Log.With("actor", "ingest"), window)
	defer ew.Flush()
	ch := make(chan *nats.Msg, 8192)
	sub, err := in.Conn.NC.ChanSubscribe(bus.RawPrefix+"*.*", ch)
	if err != nil {
		return fmt.Errorf("ingest: subscribe: %w", err)
	}
	in.sub.Store(sub)
	defer func() { _ = sub.Unsubscribe() }()
	tick := time.NewTicker(window)
	defer tick.Stop()
	for {
		select {
		case m := <-ch:
			in.handle(m, ew)
		case now := <-tick.C:
			ew.Tick(now)
		case <-ctx.Done():
			_ = in.Conn.NC.Flush()
			for {
				select {
				case m := <-ch:
					in.handle(m, ew)
				default:
					return nil
				}
			}
		}
	}
}

// BusDropped is how many raw samples the client library dropped because the
// subscription's queue was full (a slow consumer).
func (in *Ingest) BusDropped() uint64 {
	if sub := in.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil && n > 0 {
			return uint64(n)
		}
	}
	return 0
}

var errUnknownKind = errors.New("unknown kind")

func (in *Ingest) handle(m *nats.Msg, ew *actors.ErrorWindow) {
	in.Received.Add(1)
	if err := in.Ingest(m.Subject, m.Data, m.Header, time.Now()); err != nil {
		switch {
		case errors.Is(err, errUnknownKind):
			in.UnknownKind.Add(1)
		case errors.Is(err, errBadSchema):
			in.BadSchema.Add(1)
		default:
			in.Malformed.Add(1)
		}
		ew.Warn("dropped message", err)
	}
}

var errBadSchema = errors.New("unsupported " + bus.SchemaHeader)

// Ingest processes one raw message: subject, payload and headers. It is called
// by Run's goroutine only.
func (in *Ingest) Ingest(subject string, data []byte, h nats.Header, now time.Time) error {
	if !bus.SchemaOK(&nats.Msg{Header: h}) {
		return fmt.Errorf("%s: %w %q", subject, errBadSchema, h.Get(bus.SchemaHeader))
	}
	host, kind, ok := bus.ParseRaw(subject)
	if !ok || !bus.ValidToken(host) {
		return fmt.Errorf("%s: malformed subject", subject)
	}
	k, ok := in.Kinds[kind]
	if !ok {
		return fmt.Errorf("%s: %w %q", subject, errUnknownKind, kind)
	}
	key := seriesKey(host, kind)
	f := in.flatteners[key]
	if f == nil {
		f = NewFlattener(nil, ParsePatterns(k.Counters...)).WithLimit(k.MaxSeries)
		in.flatteners[key] = f
	}
	v, err := f.Flatten(data)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	v.Host, v.Kind, v.key = host, kind, key
	in.store(&Latest{Host: host, Kind: kind, Raw: data, Time: v.Time, Received: now})
	for _, out := range in.Outs {
		if !out.Offer(v) {
			in.Dropped.Add(1)
		}
	}
	return nil
}

var _ actors.Actor = (*Ingest)(nil)
