package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
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

	// held is the subscription Hold took before the state was loaded, until
	// Run takes it over; release lets its handler go on, and stopped ends
	// its waits. The first backlog messages it delivers then (those that
	// waited for the state) go to behind, which Run routes with
	// back-pressure; later ones to the mailbox. full counts what the
	// handler dropped for a full mailbox.
	heldMu            sync.Mutex
	held              *bus.Subscription
	release, stopped  chan struct{}
	released, stopOne sync.Once
	backlog           atomic.Int64
	behind            chan *bus.Msg
	full              atomic.Uint64

	// waiting keeps, per host whose saved state is still loading
	// (Pipeline.Pending), its samples in order until it has loaded;
	// waitingBytes is their size, bounded by Options.HoldBytes. Run's only.
	waiting      map[string][]*bus.Msg
	waitingBytes int
	// LoadDropped counts samples of hosts still loading dropped: past
	// HoldBytes, or at a stop before their host loaded.
	LoadDropped atomic.Uint64

	// floors are, per series restored, when its state was saved (Unix
	// nanoseconds; read-only once Run starts).
	floors map[string]int64
	// replay, while catching up, delivers the stream's messages up to
	// replayEnd, the stream's last sequence before the live subscription.
	replay    chan *bus.Msg
	replaySub *bus.Subscription
	replayEnd uint64

	// Counters, for the stats. Each message is counted once it has been
	// handled: Received, and when it was dropped, the reason's counter.
	Received, Malformed, UnknownKind, BadSchema, TooLarge, TooManyHosts atomic.Uint64
	// Duplicates counts live samples an agent sent again that the hub
	// already had (bus.SeqHeader).
	Duplicates atomic.Uint64
	// Replayed counts samples taken from the replay stream; ReplaySkipped
	// those the restored state already held. Replaying is 1 while it
	// catches up.
	Replayed, ReplaySkipped, Replaying atomic.Uint64
}

// Hold subscribes to the raw samples before the state is loaded: a hub
// that loads a fleet's state for seconds would otherwise have its bus
// accept samples that nobody is subscribed to take, and lose them, while
// the agents count them as sent. What arrives is kept in order, up to
// Options.HoldBytes (past it the bus drops and counts them as queue_full), and Run
// routes it before anything newer. With the replay stream it does nothing:
// the stream keeps what arrives, and Run replays it.
func (in *Ingest) Hold() error {
	in.heldMu.Lock()
	defer in.heldMu.Unlock()
	if in.p.o.Replay || in.held != nil {
		return nil
	}
	in.release, in.stopped, in.behind = make(chan struct{}), make(chan struct{}), make(chan *bus.Msg, 64)
	sub, err := in.conn.SubscribeBounded(bus.RawPrefix+"*.*", in.p.o.HoldBytes, in.deliver)
	if err != nil {
		return err
	}
	in.held = sub
	in.sub.Store(sub)
	// The server has the subscription once the round trip is back: what
	// is published from then on is held.
	return in.conn.Flush()
}

// Held is how many samples wait for Run in the held subscription, and how
// many it dropped.
func (in *Ingest) Held() (waiting int, dropped uint64) {
	in.heldMu.Lock()
	defer in.heldMu.Unlock()
	if in.held == nil {
		return 0, 0
	}
	return in.held.Pending(), in.held.Dropped()
}

// Unhold gives up a held subscription that Run will not take (the hub did
// not start).
func (in *Ingest) Unhold() {
	in.heldMu.Lock()
	defer in.heldMu.Unlock()
	if in.held != nil {
		_ = in.held.Unsubscribe()
		in.stopOne.Do(func() { close(in.stopped) })
		in.released.Do(func() { close(in.release) })
		in.held = nil
	}
}

// deliver is the held subscription's handler: it waits until Run takes
// the subscription over; then it hands the backlog to Run as fast as Run
// routes it, and each later message to the mailbox without blocking (a
// full mailbox drops and counts, as a channel subscription does).
func (in *Ingest) deliver(m *bus.Msg) {
	<-in.release
	if in.backlog.Add(-1) >= 0 {
		select {
		case in.behind <- m:
		case <-in.stopped:
		}
		return
	}
	select {
	case in.queue <- m:
	default:
		in.full.Add(1)
	}
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
	in.heldMu.Lock()
	sub := in.held
	in.held = nil
	in.heldMu.Unlock()
	if sub != nil {
		// What waits, and the one message its handler may hold already.
		waiting, dropped := sub.Pending(), sub.Dropped()
		in.backlog.Store(int64(waiting) + 1)
		in.released.Do(func() { close(in.release) })
		defer in.stopOne.Do(func() { close(in.stopped) })
		if waiting > 0 || dropped > 0 {
			in.Log.Info("routing the samples that arrived while the state loaded", "samples", waiting, "dropped", dropped)
		}
	} else {
		var err error
		if sub, err = in.subscribe(); err != nil {
			return fmt.Errorf("ingest: subscribe: %w", err)
		}
	}
	in.sub.Store(sub)
	defer func() { _ = sub.Unsubscribe() }()
	defer in.endReplay("stopped")
	tick := time.NewTicker(window)
	defer tick.Stop()
	in.p.Expire(time.Now())
	for {
		select {
		case m := <-in.queue:
			in.handle(m, ew)
		case m := <-in.behind:
			in.route(ctx, m, ew)
		case m := <-in.replay:
			in.handleReplayed(ctx, m, ew)
		case <-in.p.loadedSig:
			in.releaseLoaded(ctx, ew)
		case now := <-tick.C:
			ew.Tick(now)
			in.p.Expire(now)
		case <-ctx.Done():
			defer in.dropWaiting()
			_ = in.conn.Flush()
			// What was published before is in the mailbox, or, for a held
			// subscription, on its way there from the client library.
			deadline := time.Now().Add(2 * time.Second)
			dctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			in.releaseLoaded(dctx, ew) // hosts that loaded just before the stop
			for {
				select {
				case m := <-in.queue:
					in.handle(m, ew)
				case m := <-in.behind:
					in.route(dctx, m, ew)
				default:
					if sub.Pending() == 0 || time.Now().After(deadline) {
						return nil
					}
					time.Sleep(time.Millisecond) // the client library is still handing messages over
				}
			}
		}
	}
}

// subscribe takes the live subject. With Replay it first notes the
// stream's last sequence, then, after subscribing live, replays the stream
// up to that sequence from when the oldest restored state was saved (every
// message, when a series was restored without a time or none was): what the
// stream stored while the hub was down, without what comes live.
func (in *Ingest) subscribe() (*bus.Subscription, error) {
	if !in.p.o.Replay {
		return in.conn.ChanSubscribe(bus.RawPrefix+"*.*", in.queue)
	}
	end, err := in.conn.StreamLastSeq()
	if err != nil {
		return nil, err
	}
	sub, err := in.conn.ChanSubscribe(bus.RawPrefix+"*.*", in.queue)
	if err != nil || end == 0 {
		return sub, err
	}
	var from time.Time // zero: all the stream keeps
	if len(in.floors) > 0 && int64(len(in.floors)) == in.p.restored.Load() {
		oldest := int64(math.MaxInt64)
		for _, f := range in.floors {
			oldest = min(oldest, f)
		}
		from = time.Unix(0, oldest)
	}
	in.replay, in.replayEnd = make(chan *bus.Msg, IngestQueue), end
	if in.replaySub, err = in.conn.ReplaySubscribe(bus.RawPrefix+"*.*", from, in.replay); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	in.Replaying.Store(1)
	in.Log.Info("catching up from the replay stream", "from", from, "to_sequence", end)
	return sub, nil
}

// handleReplayed routes one replayed message, unless the restored state of
// its series was saved after the stream stored it; past replayEnd, the live
// subscription has the rest and the replay ends.
func (in *Ingest) handleReplayed(ctx context.Context, m *bus.Msg, ew *actors.ErrorWindow) {
	seq, stored := bus.StreamPosition(m)
	if seq > in.replayEnd {
		in.endReplay("caught up")
		return
	}
	in.Replayed.Add(1)
	if host, kind, ok := bus.ParseRaw(m.Subject); ok && stored.UnixNano() < in.floors[aggregators.SeriesKey(host, kind)] {
		in.ReplaySkipped.Add(1) // the restored state has it
	} else if r, err := in.take(m.Subject, m.Data, m.Header); err != nil {
		ew.Warn("dropped message", err)
	} else {
		in.p.shardOf(r.host).DeliverWait(ctx, r) // the stream holds back what waits
	}
	if seq == in.replayEnd {
		in.endReplay("caught up")
	}
}

// endReplay stops the replay, once, and says how it went.
func (in *Ingest) endReplay(why string) {
	if in.replaySub == nil {
		return
	}
	_ = in.replaySub.Unsubscribe()
	in.replaySub, in.replay = nil, nil
	in.Replaying.Store(0)
	in.Log.Info("replay over: "+why, "replayed", in.Replayed.Load(), "already_held", in.ReplaySkipped.Load())
}

// Queue reports the ingest mailbox: messages waiting, its capacity, and how
// many the bus dropped because it was full.
func (in *Ingest) Queue() actors.MailboxStats {
	st := actors.MailboxStats{Name: "ingest", Depth: len(in.queue), Capacity: cap(in.queue), Dropped: in.full.Load()}
	if sub := in.sub.Load(); sub != nil {
		st.Dropped += sub.Dropped()
	}
	return st
}

var (
	errUnknownKind  = errors.New("unknown kind")
	errBadSchema    = errors.New("unsupported " + bus.SchemaHeader)
	errTooLarge     = errors.New("sample over --max-sample-bytes")
	errTooManyHosts = errors.New("a new host past --max-hosts")
)

// handle routes one live message to its shard without waiting: a full
// mailbox drops and counts.
func (in *Ingest) handle(m *bus.Msg, ew *actors.ErrorWindow) {
	if in.wait(m, ew) {
		return
	}
	if r, ok := in.admitLive(m, ew); ok {
		// In place when nothing else waits for the ingest actor: else the
		// shards' goroutines share the work.
		in.p.shardOf(r.host).Deliver(r, len(in.queue) == 0) // a full mailbox counts its own drops
	}
}

// route routes one message of the backlog held while the state loaded,
// waiting for room in its shard's mailbox: the bus holds back the rest.
func (in *Ingest) route(ctx context.Context, m *bus.Msg, ew *actors.ErrorWindow) {
	if in.wait(m, ew) {
		return
	}
	in.routeNow(ctx, m, ew)
}

func (in *Ingest) routeNow(ctx context.Context, m *bus.Msg, ew *actors.ErrorWindow) {
	if r, ok := in.admitLive(m, ew); ok {
		in.p.shardOf(r.host).DeliverWait(ctx, r)
	}
}

// wait keeps m aside when its host's saved state is still loading (or
// samples of the host wait already: order is kept), and has that host read
// next; it reports whether it did (or dropped m: past Options.HoldBytes).
// Checks wait too: the host's agent's sample numbers come with its state.
func (in *Ingest) wait(m *bus.Msg, ew *actors.ErrorWindow) bool {
	if !in.p.loading.Load() && len(in.waiting) == 0 {
		return false
	}
	host, _, ok := bus.ParseRaw(m.Subject)
	if !ok {
		return false
	}
	if _, queued := in.waiting[host]; !queued && !in.p.isPending(host) {
		return false
	}
	if in.waitingBytes+len(m.Data) > in.p.o.HoldBytes {
		in.LoadDropped.Add(1)
		ew.Warn("dropped message", fmt.Errorf("%s: its host's state is still loading and %d bytes of samples wait already (--load-hold)", m.Subject, in.waitingBytes))
		return true
	}
	if in.waiting == nil {
		in.waiting = map[string][]*bus.Msg{}
	}
	if _, queued := in.waiting[host]; !queued && in.p.prioritize != nil {
		in.p.prioritize(host, false)
	}
	in.waiting[host] = append(in.waiting[host], m)
	in.waitingBytes += len(m.Data)
	return true
}

// releaseLoaded routes, in order, what waited for the hosts loaded since
// it last looked.
func (in *Ingest) releaseLoaded(ctx context.Context, ew *actors.ErrorWindow) {
	for _, host := range in.p.takeLoaded() {
		ms := in.waiting[host]
		delete(in.waiting, host)
		for _, m := range ms {
			in.waitingBytes -= len(m.Data)
			in.routeNow(ctx, m, ew)
		}
	}
}

// dropWaiting drops what waits for hosts that did not load before the stop,
// with one line: without their state, they cannot be added.
func (in *Ingest) dropWaiting() {
	n := 0
	for host, ms := range in.waiting {
		n += len(ms)
		delete(in.waiting, host)
	}
	in.waitingBytes = 0
	if n > 0 {
		in.LoadDropped.Add(uint64(n))
		in.Log.Warn("dropped samples of hosts whose state had not loaded when the hub stopped", "samples", n)
	}
}

// admitLive checks one live message, counts it, and leaves out what the
// hub already has.
func (in *Ingest) admitLive(m *bus.Msg, ew *actors.ErrorWindow) (raw, bool) {
	r, err := in.take(m.Subject, m.Data, m.Header)
	if err != nil {
		ew.Warn("dropped message", err)
		return raw{}, false
	}
	if in.p.duplicate(r.host, r.seq) {
		in.Duplicates.Add(1)
		return raw{}, false
	}
	return r, true
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
	if name := h.Get(bus.NameHeader); name != "" {
		in.p.SetName(host, name)
	}
	r := raw{host: host, kind: kind, data: data, seq: h.Get(bus.SeqHeader)}
	if sent := h.Get(bus.SentHeader); sent != "" {
		r.sent, _ = strconv.ParseInt(sent, 10, 64)
	}
	return r, nil
}

var _ actors.Actor = (*Ingest)(nil)
