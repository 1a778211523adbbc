package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// IngestQueue is the ingest actor's mailbox: raw messages delivered by the
// bus and not yet decoded. Beyond it the bus drops and counts.
const IngestQueue = 8192

// Ingest is the actor that decodes raw samples once for all five periods. It
// subscribes to ringwatch.raw.*.*, flattens each sample of a registered kind
// against that (host, kind)'s layout, keeps it as the latest sample, and offers
// the flattened values to every downsampler's mailbox.
//
// Decoding once and fanning out in process keeps ingest at one parse per sample
// (see docs/ARCHITECTURE.md for the budget); a malformed or unknown message is
// counted by reason, reported once per window, and dropped.
type Ingest struct {
	Kinds  map[string]aggregators.Kind
	Outs   []*actors.Mailbox[*aggregators.Values]
	Log    *slog.Logger
	Window time.Duration // problem report window; 30 s when zero

	conn       *bus.Conn
	queue      chan *bus.Msg
	flatteners map[string]*aggregators.Flattener // owned by Run
	latest     sync.Map                          // key -> *atomic.Pointer[aggregators.Latest]
	sub        atomic.Pointer[bus.Subscription]

	// Counters, for the stats. Each message is counted once it has been
	// handled: Received, and when it was dropped, the reason's counter.
	Received, Malformed, UnknownKind, BadSchema atomic.Uint64
}

// NewIngest wires an ingest stage that subscribes on conn.
func NewIngest(conn *bus.Conn, kinds []aggregators.Kind, outs []*actors.Mailbox[*aggregators.Values], log *slog.Logger) *Ingest {
	m := make(map[string]aggregators.Kind, len(kinds))
	for _, k := range kinds {
		m[k.Name] = k
	}
	return &Ingest{conn: conn, Kinds: m, Outs: outs, Log: log, queue: make(chan *bus.Msg, IngestQueue),
		flatteners: map[string]*aggregators.Flattener{}}
}

// Restore seeds host's kind with a layout and its last raw sample. Call it before Run.
func (in *Ingest) Restore(host, kind string, l *aggregators.Layout, last []byte, lastTime int64) {
	k, ok := in.Kinds[kind]
	if !ok {
		return
	}
	in.flatteners[aggregators.SeriesKey(host, kind)] = aggregators.NewFlattener(l, aggregators.ParsePatterns(k.Counters...)).WithLimit(k.MaxSeries)
	if last != nil {
		in.store(&aggregators.Latest{Host: host, Kind: kind, Raw: last, Time: lastTime})
	}
}

// Latest returns the newest sample of host's kind.
func (in *Ingest) Latest(host, kind string) *aggregators.Latest {
	p, ok := in.latest.Load(aggregators.SeriesKey(host, kind))
	if !ok {
		return nil
	}
	return p.(*atomic.Pointer[aggregators.Latest]).Load()
}

// AllLatest lists the newest sample of every (host, kind), sorted by host and kind.
func (in *Ingest) AllLatest() []*aggregators.Latest {
	var out []*aggregators.Latest
	in.latest.Range(func(_, p any) bool {
		if l := p.(*atomic.Pointer[aggregators.Latest]).Load(); l != nil {
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

func (in *Ingest) store(l *aggregators.Latest) {
	k := aggregators.SeriesKey(l.Host, l.Kind)
	p, ok := in.latest.Load(k)
	if !ok {
		p, _ = in.latest.LoadOrStore(k, new(atomic.Pointer[aggregators.Latest]))
	}
	p.(*atomic.Pointer[aggregators.Latest]).Store(l)
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
	sub, err := in.conn.ChanSubscribe(bus.RawPrefix+"*.*", in.queue)
	if err != nil {
		return fmt.Errorf("ingest: subscribe: %w", err)
	}
	in.sub.Store(sub)
	defer func() { _ = sub.Unsubscribe() }()
	tick := time.NewTicker(window)
	defer tick.Stop()
	for {
		select {
		case m := <-in.queue:
			in.handle(m, ew)
		case now := <-tick.C:
			ew.Tick(now)
		case <-ctx.Done():
			_ = in.conn.Flush()
			for {
				select {
				case m := <-in.queue:
					in.handle(m, ew)
				default:
					return nil
				}
			}
		}
	}
}

// Queue reports the ingest mailbox: messages waiting, its capacity, and how
// many the bus dropped because it was full.
func (in *Ingest) Queue() actors.MailboxStats {
	st := actors.MailboxStats{Name: "ingest", Depth: len(in.queue), Capacity: cap(in.queue)}
	if sub := in.sub.Load(); sub != nil {
		st.Dropped = sub.Dropped()
	}
	return st
}

var errUnknownKind = errors.New("unknown kind")

func (in *Ingest) handle(m *bus.Msg, ew *actors.ErrorWindow) {
	err := in.Ingest(m.Subject, m.Data, m.Header, time.Now())
	switch {
	case err == nil:
	case errors.Is(err, errUnknownKind):
		in.UnknownKind.Add(1)
	case errors.Is(err, errBadSchema):
		in.BadSchema.Add(1)
	default:
		in.Malformed.Add(1)
	}
	if err != nil {
		ew.Warn("dropped message", err)
	}
	in.Received.Add(1)
}

var errBadSchema = errors.New("unsupported " + bus.SchemaHeader)

// Ingest processes one raw message: subject, payload and headers. It is called
// by Run's goroutine only (or by a test or benchmark that drives it instead).
func (in *Ingest) Ingest(subject string, data []byte, h bus.Header, now time.Time) error {
	if !bus.SchemaOK(&bus.Msg{Header: h}) {
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
	key := aggregators.SeriesKey(host, kind)
	f := in.flatteners[key]
	if f == nil {
		f = aggregators.NewFlattener(nil, aggregators.ParsePatterns(k.Counters...)).WithLimit(k.MaxSeries)
		in.flatteners[key] = f
	}
	v, err := f.Flatten(data)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	v.Host, v.Kind, v.Key = host, kind, key
	in.store(&aggregators.Latest{Host: host, Kind: kind, Raw: data, Time: v.Time, Received: now})
	for _, out := range in.Outs {
		out.Offer(v) // a full mailbox counts its own drops
	}
	return nil
}

var _ actors.Actor = (*Ingest)(nil)
