package pipeline

import (
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// Pipeline is the aggregation side of the hub: one ingest actor and the
// shards that own the hosts. Its read methods are safe from any goroutine;
// the API and the snapshotter use them through their own small interfaces.
type Pipeline struct {
	Ingest *Ingest
	Shards []*Shard

	o      Options
	kinds  map[string]aggregators.Kind
	latest sync.Map // series key -> *atomic.Pointer[aggregators.Latest]

	hosts     sync.Map     // host -> *hostEntry
	nHosts    atomic.Int64 // entries in hosts
	forgotten atomic.Uint64
	restored  atomic.Int64 // series restored from disk

	// Hosts whose saved state is still loading (see Pending): host ->
	// chan struct{}, closed once it has loaded.
	pending    sync.Map
	loading    atomic.Bool  // while any host is pending
	toLoad     atomic.Int64 // hosts still pending
	prioritize func(host string, urgent bool)
	loadedMu   sync.Mutex
	loadedList []string      // hosts loaded since the ingest actor last looked
	loadedSig  chan struct{} // signalled when loadedList grows
}

// hostEntry is one host the pipeline keeps.
type hostEntry struct {
	lastSeen atomic.Int64           // Unix seconds of its newest message
	name     atomic.Pointer[string] // as its agent was given it (bus.NameHeader)
	seq      seqWindow              // its agent's sample numbers; the ingest actor's only
}

// Options shape a pipeline; the zero value is usable.
type Options struct {
	// Shards is how many shard actors share the hosts (default: the
	// number of CPUs Go may use).
	Shards int
	// MaxHosts bounds the hosts kept (default DefaultMaxHosts): samples of
	// further hosts are dropped and counted (too_many_hosts). OwnHost, the
	// hub's own, is always kept and does not count toward it.
	MaxHosts int
	OwnHost  string
	// MaxSampleBytes bounds a raw sample (default DefaultMaxSampleBytes):
	// larger ones are dropped and counted (too_large).
	MaxSampleBytes int
	// Retention is how long a silent host is kept (default
	// DefaultRetention, the longest period): then it is forgotten, in
	// memory, and OnForget is told (to remove its files).
	Retention time.Duration
	// OnForget, when set, is called once for every host forgotten, on the
	// ingest actor's goroutine.
	OnForget func(host string, lastSeen time.Time)
	// HoldBytes bounds what Ingest.Hold keeps while the state loads
	// (default DefaultHoldBytes): past it, samples are dropped and counted
	// (queue_full).
	HoldBytes int
	// Replay makes ingest catch up from the replay stream (bus.ReplayStream)
	// at start, beside the live subject: what was stored while the hub was
	// down (see RestoreSaved), up to where the live subscription began.
	Replay bool
}

// Defaults of Options.
const (
	DefaultMaxHosts       = 10_000
	DefaultMaxSampleBytes = 256 << 10
	DefaultRetention      = 30 * 24 * time.Hour
	// DefaultHoldBytes: at 2.7 KB a sample, 200,000 samples (10,000 hosts
	// for 20 s).
	DefaultHoldBytes = 512 << 20
)

// New wires ingest and shards. sub receives raw samples (nil: only
// IngestNow feeds it); pub publishes closed buckets (nil to publish
// nothing).
func New(kinds []aggregators.Kind, sub *bus.Conn, pub actors.Publisher, log *slog.Logger) *Pipeline {
	return NewWith(Options{}, kinds, sub, pub, log)
}

// NewWith is New with options.
func NewWith(o Options, kinds []aggregators.Kind, sub *bus.Conn, pub actors.Publisher, log *slog.Logger) *Pipeline {
	if o.Shards <= 0 {
		o.Shards = runtime.GOMAXPROCS(0)
	}
	if o.MaxHosts <= 0 {
		o.MaxHosts = DefaultMaxHosts
	}
	if o.MaxSampleBytes <= 0 {
		o.MaxSampleBytes = DefaultMaxSampleBytes
	}
	if o.HoldBytes <= 0 {
		o.HoldBytes = DefaultHoldBytes
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	p := &Pipeline{o: o, kinds: make(map[string]aggregators.Kind, len(kinds)), loadedSig: make(chan struct{}, 1)}
	for _, k := range kinds {
		p.kinds[k.Name] = k
	}
	p.Ingest = &Ingest{p: p, conn: sub, Log: log, queue: make(chan *bus.Msg, IngestQueue)}
	for i := range o.Shards {
		p.Shards = append(p.Shards, newShard(i, p, pub, log))
	}
	return p
}

// admit records a message from host at now, and reports whether the host
// may be kept: a host seen before, or a new one while there is room.
func (p *Pipeline) admit(host string, now int64) bool {
	if e, ok := p.hosts.Load(host); ok {
		e.(*hostEntry).lastSeen.Store(now)
		return true
	}
	// Hosts whose state is still loading count: they will be kept.
	if host != p.o.OwnHost && p.nHosts.Load()+p.toLoad.Load()-p.ownKept() >= int64(p.o.MaxHosts) {
		return false
	}
	e := &hostEntry{}
	e.lastSeen.Store(now)
	if _, loaded := p.hosts.LoadOrStore(host, e); !loaded {
		p.nHosts.Add(1)
	}
	return true
}

// MaxNameBytes bounds a host's display name.
const MaxNameBytes = 64

// SetName records host's display name: the name its agent was given, of
// which host is the token ("My NAS" for my-nas). A name that is too long,
// not printable UTF-8, or not host's name, is ignored.
// An agent sends its name with every sample: the name already kept costs
// one comparison, and only a new one is checked.
func (p *Pipeline) SetName(host, name string) {
	e, ok := p.hosts.Load(host)
	if !ok {
		return
	}
	he := e.(*hostEntry)
	if cur := he.name.Load(); cur != nil && *cur == name {
		return
	}
	if len(name) > MaxNameBytes || !utf8.ValidString(name) || bus.Token(name) != host || name == host {
		return
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return
		}
	}
	he.name.Store(&name)
}

// Name is host's display name, or host when it has none.
func (p *Pipeline) Name(host string) string {
	if e, ok := p.hosts.Load(host); ok {
		if n := e.(*hostEntry).name.Load(); n != nil {
			return *n
		}
	}
	return host
}

// ownKept is 1 while the hub's own host is among the hosts kept, else 0.
func (p *Pipeline) ownKept() int64 {
	if p.o.OwnHost == "" {
		return 0
	}
	if _, ok := p.hosts.Load(p.o.OwnHost); ok {
		return 1
	}
	return 0
}

// Expire forgets the hosts silent for longer than the retention: their
// latest samples, their shard's state, and (OnForget) their files. The
// ingest actor calls it every window; one goroutine at a time may.
func (p *Pipeline) Expire(now time.Time) {
	cutoff := now.Add(-p.o.Retention).Unix()
	p.hosts.Range(func(k, v any) bool {
		host, e := k.(string), v.(*hostEntry)
		seen := e.lastSeen.Load()
		if seen >= cutoff {
			return true
		}
		select {
		case p.shardOf(host).forgets <- host:
		default:
			return true // the shard is busy: the next pass forgets it
		}
		p.hosts.Delete(host)
		p.nHosts.Add(-1)
		for kind := range p.kinds {
			p.latest.Delete(aggregators.SeriesKey(host, kind))
		}
		p.forgotten.Add(1)
		if p.o.OnForget != nil {
			p.o.OnForget(host, time.Unix(seen, 0))
		}
		return true
	})
}

// shardOf is the shard that owns host: FNV-1a of the host token.
func (p *Pipeline) shardOf(host string) *Shard {
	h := uint32(2166136261)
	for i := 0; i < len(host); i++ {
		h ^= uint32(host[i])
		h *= 16777619
	}
	return p.Shards[h%uint32(len(p.Shards))]
}

// Specs are the pipeline's actors with their places in the stop order.
func (p *Pipeline) Specs() []actors.Spec {
	specs := []actors.Spec{{Name: "ingest", Stage: actors.StageIngest, Actor: p.Ingest}}
	for _, s := range p.Shards {
		specs = append(specs, actors.Spec{Name: s.In.Name(), Stage: actors.StageDownsampler, Actor: s})
	}
	return specs
}

// Running reports whether every shard serves view requests.
func (p *Pipeline) Running() bool {
	for _, s := range p.Shards {
		if !s.Running() {
			return false
		}
	}
	return true
}

// IngestNow checks one raw message and processes it on the calling
// goroutine, as the actors would: for tests, tools and benchmarks that drive
// a pipeline whose actors do not run (the caller is then the only goroutine
// touching it).
func (p *Pipeline) IngestNow(subject string, data []byte, h bus.Header, now time.Time) error {
	r, err := p.Ingest.take(subject, data, h)
	if err != nil {
		return err
	}
	s := p.shardOf(r.host)
	before := s.Malformed.Load()
	s.Add(r, now)
	if s.Malformed.Load() != before {
		return fmt.Errorf("%s: malformed sample", subject)
	}
	return nil
}

// Offer checks one raw message and hands it to its shard's mailbox, as the
// ingest actor does with what the bus delivers: for tests and tools that
// feed running shards without a bus.
func (p *Pipeline) Offer(subject string, data []byte, h bus.Header) error {
	r, err := p.Ingest.take(subject, data, h)
	if err != nil {
		return err
	}
	p.shardOf(r.host).Deliver(r, false)
	return nil
}

// Kind returns the registered kind called name.
func (p *Pipeline) Kind(name string) (aggregators.Kind, bool) {
	k, ok := p.kinds[name]
	return k, ok
}

// latestSlot is where the latest sample of the series with key k
// (aggregators.SeriesKey) is kept, made on first use. A shard keeps its
// series' slots, so that a sample costs no lookup in a map of every
// series; forgetting a host drops its slots, and the shard's series with
// them (Expire).
func (p *Pipeline) latestSlot(k string) *atomic.Pointer[aggregators.Latest] {
	ptr, ok := p.latest.Load(k)
	if !ok {
		ptr, _ = p.latest.LoadOrStore(k, new(atomic.Pointer[aggregators.Latest]))
	}
	return ptr.(*atomic.Pointer[aggregators.Latest])
}

// keep stores l in slot unless the one kept is newer: a late sample (an
// agent's buffer sent after an outage) goes into its buckets but does not
// replace a newer latest. Only the series' shard, or the restore before it
// runs, stores a series.
func keep(slot *atomic.Pointer[aggregators.Latest], l *aggregators.Latest) {
	if old := slot.Load(); old != nil && old.Time > l.Time {
		return
	}
	slot.Store(l)
}

// Latest returns the newest sample of host's kind, or nil. A host whose
// saved state is loading is loaded first.
func (p *Pipeline) Latest(host, kind string) *aggregators.Latest {
	p.await(host)
	return p.latestOf(host, kind)
}

// latestOf is Latest without waiting for a pending host: for the shards.
func (p *Pipeline) latestOf(host, kind string) *aggregators.Latest {
	ptr, ok := p.latest.Load(aggregators.SeriesKey(host, kind))
	if !ok {
		return nil
	}
	return ptr.(*atomic.Pointer[aggregators.Latest]).Load()
}

// AllLatest lists the newest sample of every (host, kind), sorted by host and kind.
func (p *Pipeline) AllLatest() []*aggregators.Latest {
	var out []*aggregators.Latest
	for l := range p.RangeLatest {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// RangeLatest yields the newest sample of every (host, kind), in no
// particular order: for a caller that visits each (the snapshotter, every
// second) and has no use for AllLatest's list and sorting.
func (p *Pipeline) RangeLatest(yield func(*aggregators.Latest) bool) {
	p.latest.Range(func(_, ptr any) bool {
		if l := ptr.(*atomic.Pointer[aggregators.Latest]).Load(); l != nil {
			return yield(l)
		}
		return true
	})
}

// View returns host's kind over period, or nil. A host whose saved state
// is loading is loaded first.
func (p *Pipeline) View(period aggregators.Period, host, kind string) *aggregators.View {
	p.await(host)
	for i, per := range aggregators.Periods {
		if per.Name == period.Name {
			return p.shardOf(host).View(i, host, kind)
		}
	}
	return nil
}

// LeanViews returns host's kind's current views, one per period in
// aggregators.Periods' order (nil where it has none), for the snapshotter:
// see Shard.LeanViews.
func (p *Pipeline) LeanViews(host, kind string) []*aggregators.View {
	p.await(host)
	return p.shardOf(host).LeanViews(host, kind)
}

// Views returns a current view of every (period, host, kind).
func (p *Pipeline) Views() []*aggregators.View {
	var out []*aggregators.View
	for _, s := range p.Shards {
		out = append(out, s.Views()...)
	}
	return out
}

// Known reports whether the pipeline has anything for host: a sample or a
// restored period of any kind. It costs a few map lookups; a host whose
// saved state is loading is loaded first.
func (p *Pipeline) Known(host string) bool {
	p.await(host)
	s := p.shardOf(host)
	for kind := range p.kinds {
		if p.latestOf(host, kind) != nil || s.Has(host, kind) {
			return true
		}
	}
	return false
}

// Restore seeds one (host, kind) with its layout, buckets per period name and
// last raw sample: before the actors run, or while they do for a host whose
// state loads late (Pending), on its shard's goroutine.
func (p *Pipeline) Restore(host, kind string, l *aggregators.Layout, buckets map[string][]*aggregators.Bucket, last []byte, lastTime int64) {
	if _, ok := p.kinds[kind]; !ok {
		return
	}
	j := restoreJob{host: host, kind: kind, layout: l, buckets: buckets}
	if last != nil {
		j.last = &aggregators.Latest{Host: host, Kind: kind, Raw: last, Time: lastTime}
	}
	p.shardOf(host).restoreNow(j)
	p.restored.Add(1)
	// A restored host counts toward MaxHosts, seen when its last sample was.
	seen := lastTime
	if seen <= 0 {
		seen = time.Now().Unix()
	}
	// The entry goes in already seen: one stored first and seen after
	// could meet Expire in between, as silent since 1970, and be forgotten
	// right after it was restored.
	fresh := &hostEntry{}
	fresh.lastSeen.Store(seen)
	e, loaded := p.hosts.LoadOrStore(host, fresh)
	if !loaded {
		p.nHosts.Add(1)
	}
	if he := e.(*hostEntry); seen > he.lastSeen.Load() {
		he.lastSeen.Store(seen)
	}
}

// Pending marks hosts whose saved state will be restored while the
// actors run (Restore, RestoreSeq, then Loaded): a query for one of them
// (View, Latest) calls prioritize with the host and urgent, so that its
// state is read before the others, and waits until it is in; the ingest
// actor keeps the host's samples aside until then (and calls prioritize,
// not urgent: a reader waiting goes first). Call it before
// the actors run. With Options.Replay the ingest actor must not run until
// every host has loaded (LoadingDone): the replay starts from the oldest
// restored state.
func (p *Pipeline) Pending(hosts []string, prioritize func(host string, urgent bool)) {
	p.prioritize = prioritize
	for _, h := range hosts {
		if _, dup := p.pending.LoadOrStore(h, make(chan struct{})); !dup {
			p.toLoad.Add(1)
		}
	}
	p.loading.Store(p.toLoad.Load() > 0)
}

// Loaded says that host's saved state is restored: queries for it wait no
// more.
func (p *Pipeline) Loaded(host string) {
	if ch, ok := p.pending.LoadAndDelete(host); ok {
		p.loadedMu.Lock()
		p.loadedList = append(p.loadedList, host)
		p.loadedMu.Unlock()
		select {
		case p.loadedSig <- struct{}{}:
		default:
		}
		p.releaseOnce(ch.(chan struct{}))
		if p.toLoad.Add(-1) == 0 {
			p.loading.Store(false)
		}
	}
}

// takeLoaded returns the hosts loaded since it was last called.
func (p *Pipeline) takeLoaded() []string {
	p.loadedMu.Lock()
	defer p.loadedMu.Unlock()
	l := p.loadedList
	p.loadedList = nil
	return l
}

// isPending reports whether host's saved state has yet to load.
func (p *Pipeline) isPending(host string) bool {
	if !p.loading.Load() {
		return false
	}
	_, ok := p.pending.Load(host)
	return ok
}

// Restored returns what a (host, kind) holds, in every period
// (aggregators.Periods order, nil where it has nothing), and its latest
// sample, without waiting for a pending host: for the loader to tell the
// snapshotter what is on disk right after Restore.
func (p *Pipeline) Restored(host, kind string) (views []*aggregators.View, last *aggregators.Latest) {
	s := p.shardOf(host)
	for i := range aggregators.Periods {
		views = append(views, s.View(i, host, kind))
	}
	return views, p.latestOf(host, kind)
}

// LoadingDone releases every host still pending: the load finished (the
// loader found nothing for them).
func (p *Pipeline) LoadingDone() {
	p.pending.Range(func(k, _ any) bool {
		p.Loaded(k.(string))
		return true
	})
}

// Abandon gives the load up (the hub is stopping): queries waiting for a
// pending host return with what there is (nothing), and the hosts stay
// pending, so that their samples keep waiting and are dropped at the stop:
// taken without their state, they would be written over it.
func (p *Pipeline) Abandon() {
	p.pending.Range(func(_, ch any) bool {
		p.releaseOnce(ch.(chan struct{}))
		return true
	})
}

// releaseOnce closes a pending host's channel unless Abandon did.
func (p *Pipeline) releaseOnce(ch chan struct{}) {
	p.loadedMu.Lock()
	defer p.loadedMu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// await waits until host's saved state is in, having it read first.
func (p *Pipeline) await(host string) {
	if !p.loading.Load() {
		return
	}
	ch, ok := p.pending.Load(host)
	if !ok {
		return
	}
	if p.prioritize != nil {
		p.prioritize(host, true)
	}
	<-ch.(chan struct{})
}

// RestoreSaved records when host's kind's restored state was saved (Unix
// nanoseconds): the replay skips what the stream stored before, which the
// hub had when it saved. Call it before Run.
func (p *Pipeline) RestoreSaved(host, kind string, saved int64) {
	if saved <= 0 || !p.o.Replay {
		return
	}
	if p.Ingest.floors == nil {
		p.Ingest.floors = map[string]int64{}
	}
	p.Ingest.floors[aggregators.SeriesKey(host, kind)] = saved
}

// Stats are the pipeline's figures.
type Stats struct {
	// Received counts raw messages handled; Dropped counts those dropped,
	// by reason: malformed, unknown_kind, bad_schema, too_large (over
	// MaxSampleBytes), too_many_hosts (a new host past MaxHosts),
	// out_of_range (a number beyond float64, like 1e999), duplicate (an
	// agent sent again a sample the hub had: bus.SeqHeader), queue_full
	// (the bus dropped it before ingest could take it), and state_loading
	// (its host's saved state was still loading, and HoldBytes of samples
	// waited already, or the hub stopped first).
	Received uint64            `json:"received"`
	Dropped  map[string]uint64 `json:"dropped"`
	// Hosts kept now, their bound, and hosts forgotten after the retention.
	Hosts     int64  `json:"hosts"`
	MaxHosts  int    `json:"max_hosts"`
	Forgotten uint64 `json:"forgotten"`
	// LeavesDropped counts values left out for a kind's series limit or a
	// type conflict; LongLiterals strings left out of buckets for their
	// length (they stay in the latest sample).
	LeavesDropped uint64 `json:"leaves_dropped"`
	LongLiterals  uint64 `json:"long_literals"`
	// Replayed counts samples taken from the replay stream at start,
	// ReplaySkipped those the restored state already held; Replaying is
	// true while the hub catches up.
	Replayed      uint64 `json:"replayed"`
	ReplaySkipped uint64 `json:"replay_skipped"`
	Replaying     bool   `json:"replaying"`
	// HostsLoading counts hosts whose saved state is still being read at
	// start: their queries and their samples wait for it (it is read
	// first).
	HostsLoading int64 `json:"hosts_loading"`
	// Periods has each period's figures over every shard, finest first.
	Periods   []PeriodStats         `json:"periods"`
	Mailboxes []actors.MailboxStats `json:"mailboxes"`
}

// PeriodStats is one period's figures.
type PeriodStats struct {
	Period    string `json:"period"`
	Processed uint64 `json:"processed"`
	// Dropped by reason: too_old (before the ring), future (over a minute
	// ahead of the hub's clock).
	Dropped       map[string]uint64 `json:"dropped"`
	Published     uint64            `json:"published"`      // closed buckets sent on the bus
	Unheard       uint64            `json:"unheard"`        // closed buckets not encoded: nobody subscribed
	PublishErrors uint64            `json:"publish_errors"` // closed buckets the bus refused
	// Latency is from the publisher's send time (the Ringwatch-Sent header)
	// to the sample's being in this period's ring.
	Latency actors.HistogramStats `json:"latency"`
}

// Stats reads the pipeline's figures; safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	in := p.Ingest
	q := in.Queue()
	st := Stats{
		Received: in.Received.Load(),
		Dropped: map[string]uint64{
			"malformed": in.Malformed.Load(), "unknown_kind": in.UnknownKind.Load(),
			"bad_schema": in.BadSchema.Load(), "queue_full": q.Dropped, "state_loading": in.LoadDropped.Load(),
			"too_large": in.TooLarge.Load(), "too_many_hosts": in.TooManyHosts.Load(), "out_of_range": 0,
			"duplicate": in.Duplicates.Load(),
		},
		Mailboxes: []actors.MailboxStats{q},
		Hosts:     p.nHosts.Load(), MaxHosts: p.o.MaxHosts, Forgotten: p.forgotten.Load(),
		Replayed: in.Replayed.Load(), ReplaySkipped: in.ReplaySkipped.Load(), Replaying: in.Replaying.Load() == 1,
		HostsLoading: p.toLoad.Load(),
	}
	for i, per := range aggregators.Periods {
		ps := PeriodStats{Period: per.Name, Dropped: map[string]uint64{"too_old": 0, "future": 0}}
		for _, s := range p.Shards {
			c := &s.periods[i]
			ps.Processed += c.processed.Load()
			ps.Dropped["too_old"] += c.tooOld.Load()
			ps.Dropped["future"] += c.future.Load()
			ps.Published += c.published.Load()
			ps.Unheard += c.unheard.Load()
			ps.PublishErrors += c.publishErrors.Load()
			ps.Latency = ps.Latency.Plus(c.latency.Stats())
		}
		st.Periods = append(st.Periods, ps)
	}
	for _, s := range p.Shards {
		st.Dropped["malformed"] += s.Malformed.Load()
		st.Dropped["out_of_range"] += s.OutOfRange.Load()
		st.LeavesDropped += s.LeavesDropped.Load()
		st.LongLiterals += s.LongLiterals.Load()
		st.Mailboxes = append(st.Mailboxes, s.In.Stats())
	}
	return st
}
