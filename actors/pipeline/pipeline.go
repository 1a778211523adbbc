package pipeline

import (
	"log/slog"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// MailboxSize is each downsampler's mailbox capacity: minutes of samples from
// hundreds of hosts.
const MailboxSize = 16384

// Pipeline is the aggregation side of the hub: one ingest actor and one
// downsampler per period. Its read methods are safe from any goroutine; the
// API and the snapshotter use them through their own small interfaces.
type Pipeline struct {
	Ingest       *Ingest
	Downsamplers []*Downsampler // in the order of aggregators.Periods
	boxes        []*actors.Mailbox[*aggregators.Values]
}

// New wires ingest and downsamplers. sub receives raw samples; pub publishes
// closed buckets (nil to publish nothing).
func New(kinds []aggregators.Kind, sub *bus.Conn, pub actors.Publisher, log *slog.Logger) *Pipeline {
	p := &Pipeline{}
	for _, per := range aggregators.Periods {
		mb := actors.NewMailbox[*aggregators.Values]("downsampler/"+per.Name, MailboxSize)
		p.boxes = append(p.boxes, mb)
		p.Downsamplers = append(p.Downsamplers, NewDownsampler(per, mb, pub, log))
	}
	p.Ingest = NewIngest(sub, kinds, p.boxes, log)
	return p
}

// Specs are the pipeline's actors with their places in the stop order.
func (p *Pipeline) Specs() []actors.Spec {
	specs := []actors.Spec{{Name: "ingest", Stage: actors.StageIngest, Actor: p.Ingest}}
	for _, d := range p.Downsamplers {
		specs = append(specs, actors.Spec{Name: "downsampler/" + d.Period.Name, Stage: actors.StageDownsampler, Actor: d})
	}
	return specs
}

// Kind returns the registered kind called name.
func (p *Pipeline) Kind(name string) (aggregators.Kind, bool) {
	k, ok := p.Ingest.Kinds[name]
	return k, ok
}

// Latest returns the newest sample of host's kind, or nil.
func (p *Pipeline) Latest(host, kind string) *aggregators.Latest { return p.Ingest.Latest(host, kind) }

// AllLatest lists the newest sample of every (host, kind), sorted.
func (p *Pipeline) AllLatest() []*aggregators.Latest { return p.Ingest.AllLatest() }

// View returns host's kind over period, or nil.
func (p *Pipeline) View(period aggregators.Period, host, kind string) *aggregators.View {
	for _, d := range p.Downsamplers {
		if d.Period.Name == period.Name {
			return d.View(host, kind)
		}
	}
	return nil
}

// Views returns a current view of every (period, host, kind).
func (p *Pipeline) Views() []*aggregators.View {
	var out []*aggregators.View
	for _, d := range p.Downsamplers {
		out = append(out, d.Views()...)
	}
	return out
}

// Known reports whether the pipeline has anything for host: a sample or a
// restored period of any kind. It costs a few map lookups.
func (p *Pipeline) Known(host string) bool {
	for kind := range p.Ingest.Kinds {
		if p.Ingest.Latest(host, kind) != nil {
			return true
		}
		for _, d := range p.Downsamplers {
			if d.Has(host, kind) {
				return true
			}
		}
	}
	return false
}

// Restore seeds one (host, kind) with its layout, buckets per period name and
// last raw sample. Call it before the actors run.
func (p *Pipeline) Restore(host, kind string, l *aggregators.Layout, buckets map[string][]*aggregators.Bucket, last []byte, lastTime int64) {
	p.Ingest.Restore(host, kind, l, last, lastTime)
	for _, d := range p.Downsamplers {
		if bs := buckets[d.Period.Name]; len(bs) > 0 {
			d.Restore(host, kind, l, bs)
		}
	}
}

// Stats are the pipeline's figures.
type Stats struct {
	// Received counts raw messages handled; Dropped counts those dropped,
	// by reason: malformed, unknown_kind, bad_schema, and queue_full (the
	// bus dropped it before ingest could take it).
	Received uint64            `json:"received"`
	Dropped  map[string]uint64 `json:"dropped"`
	// Periods has each downsampler's figures, finest first.
	Periods   []PeriodStats         `json:"periods"`
	Mailboxes []actors.MailboxStats `json:"mailboxes"`
}

// PeriodStats is one downsampler's figures.
type PeriodStats struct {
	Period    string `json:"period"`
	Processed uint64 `json:"processed"`
	// Dropped by reason: too_old (before the ring), future (over a minute
	// ahead of the hub's clock).
	Dropped       map[string]uint64 `json:"dropped"`
	Published     uint64            `json:"published"`      // closed buckets sent on the bus
	PublishErrors uint64            `json:"publish_errors"` // closed buckets the bus refused
}

// Stats reads the pipeline's figures; safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	in := p.Ingest
	q := in.Queue()
	st := Stats{
		Received: in.Received.Load(),
		Dropped: map[string]uint64{
			"malformed": in.Malformed.Load(), "unknown_kind": in.UnknownKind.Load(),
			"bad_schema": in.BadSchema.Load(), "queue_full": q.Dropped,
		},
		Mailboxes: []actors.MailboxStats{q},
	}
	for i, d := range p.Downsamplers {
		st.Periods = append(st.Periods, PeriodStats{
			Period: d.Period.Name, Processed: d.Processed.Load(),
			Dropped:   map[string]uint64{"too_old": d.TooOld.Load(), "future": d.Future.Load()},
			Published: d.Published.Load(), PublishErrors: d.PublishErrors.Load(),
		})
		st.Mailboxes = append(st.Mailboxes, p.boxes[i].Stats())
	}
	return st
}
