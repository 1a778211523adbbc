package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus"
)

// IngestQueue is the ingest actor's mailbox: raw messages delivered by the
// bus and not yet routed. Beyond it the bus drops and counts.
const IngestQueue = 8192

// Ingest is the actor that takes every raw sample off the bus (one
// subscription to ringwatch.raw.*.*), checks what can be checked without
// decoding (schema header, subject, host token, kind) and hands it to the
// shard that owns its host. A message that fails a check is counted by
// reason, reported once per window, and dropped.
type Ingest struct {
	Log    *slog.Logger
	Window time.Duration // problem report window; 30 s when zero

	p     *Pipeline
	conn  *bus.Conn
	queue chan *bus.Msg
	sub   atomic.Pointer[bus.Subscription]

	// Counters, for the stats. Each message is counted once it has been
	// handled: Received, and when it was dropped, the reason's counter.
	Received, Malformed, UnknownKind, BadSchema, TooLarge, TooManyHosts atomic.Uint64
}

// Run subscribes and routes until ctx is done. On the way out it flushes the
// connection, so every sample published before the pollers stopped reaches
// the shards, and routes what was delivered.
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
	in.p.Expire(time.Now())
	for {
		select {
		case m := <-in.queue:
			in.handle(m, ew)
		case now := <-tick.C:
			ew.Tick(now)
			in.p.Expire(now)
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

var (
	errUnknownKind  = errors.New("unknown kind")
	errBadSchema    = errors.New("unsupported " + bus.SchemaHeader)
	errTooLarge     = errors.New("sample over --max-sample-bytes")
	errTooManyHosts = errors.New("a new host past --max-hosts")
)

func (in *Ingest) handle(m *bus.Msg, ew *actors.ErrorWindow) {
	r, err := in.take(m.Subject, m.Data, m.Header)
	if err != nil {
		ew.Warn("dropped message", err)
		return
	}
	in.p.shardOf(r.host).In.Offer(r) // a full mailbox counts its own drops
}

// take checks one message and counts it: received, and dropped by reason.
func (in *Ingest) take(subject string, data []byte, h bus.Header) (raw, error) {
	r, err := in.check(subject, data, h)
	switch {
	case err == nil:
	case errors.Is(err, errUnknownKind):
		in.UnknownKind.Add(1)
	case errors.Is(err, errBadSchema):
		in.BadSchema.Add(1)
	case errors.Is(err, errTooLarge):
		in.TooLarge.Add(1)
	case errors.Is(err, errTooManyHosts):
		in.TooManyHosts.Add(1)
	default:
		in.Malformed.Add(1)
	}
	in.Received.Add(1)
	return r, err
}

// check validates what can be validated without decoding.
func (in *Ingest) check(subject string, data []byte, h bus.Header) (raw, error) {
	if !bus.SchemaOK(&bus.Msg{Header: h}) {
		return raw{}, fmt.Errorf("%s: %w %q", subject, errBadSchema, h.Get(bus.SchemaHeader))
	}
	host, kind, ok := bus.ParseRaw(subject)
	if !ok || !bus.ValidToken(host) {
		return raw{}, fmt.Errorf("%s: malformed subject", subject)
	}
	if _, ok := in.p.kinds[kind]; !ok {
		return raw{}, fmt.Errorf("%s: %w %q", subject, errUnknownKind, kind)
	}
	if len(data) > in.p.o.MaxSampleBytes {
		return raw{}, fmt.Errorf("%s: %w (%d > %d bytes)", subject, errTooLarge, len(data), in.p.o.MaxSampleBytes)
	}
	if !in.p.admit(host, time.Now().Unix()) {
		return raw{}, fmt.Errorf("%s: %w (%d hosts)", subject, errTooManyHosts, in.p.o.MaxHosts)
	}
	r := raw{host: host, kind: kind, data: data}
	if sent := h.Get(bus.SentHeader); sent != "" {
		r.sent, _ = strconv.ParseInt(sent, 10, 64)
	}
	return r, nil
}

var _ actors.Actor = (*Ingest)(nil)
