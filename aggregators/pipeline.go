package aggregators

import (
	"log/slog"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus"
)

// MailboxSize is each downsampler's mailbox capacity: minutes of samples from
// hundreds of hosts.
const MailboxSize = 16384

// Pipeline is the aggregation side of the hub: one ingest stage and one
// downsampler per period. Its read methods are safe from any goroutine.
type Pipeline struct {
	Kinds        map[string]Kind
	Ingest       *Ingest
	Downsamplers []*Downsampler // in the order of Periods
}

// NewPipeline wires ingest and downsamplers. sub receives raw samples; pub
// publishes closed buckets (nil to publish nothing).
func NewPipeline(kinds []Kind, sub *bus.Conn, pub actors.Publisher, log *slog.Logger) *Pipeline {
	p := &Pipeline{Kinds: map[string]Kind{}}
	var boxes []*actors.Mailbox[*Values]
	for _, per := range Periods {
		mb := actors.NewMailbox[*Values]("downsampler/"+per.Name, MailboxSize)
		boxes = append(boxes, mb)
		p.Downsamplers = append(p.Downsamplers, NewDownsampler(per, mb, pub, log))
	}
	p.Ingest = NewIngest(sub, kinds, boxes, log)
	p.Kinds = p.Ingest.Kinds
	return p
}

// View returns host's kind over period, or nil.
func (p *Pipeline) View(period Period, host, kind string) *View {
	for _, d := range p.Downsamplers {
		if d.Period.Name == period.Name {
			return d.View(host, kind)
		}
	}
	return nil
}

// Restore seeds one (host, kind) with its layout, buckets per period name and
// last raw sample. Call it before the actors run.
func (p *Pipeline) Restore(host, kind string, l *Layout, buckets map[string][]*Bucket, last []byte, lastTime int64) {
	p.Ingest.Restore(host, kind, l, last, lastTime)
	for _, d := range p.Downsamplers {
		if bs := buckets[d.Period.Name]; len(bs) > 0 {
			d.Restore(host, kind, l, bs)
		}
	}
}

// Counters reports the pipeline's drop and error counters by name.
func (p *Pipeline) Counters() map[string]uint64 {
	c := map[string]uint64{
		"ingest_received":     p.Ingest.Received.Load(),
		"ingest_malformed":    p.Ingest.Malformed.Load(),
		"ingest_unknown_kind": p.Ingest.UnknownKind.Load(),
		"ingest_bad_schema":   p.Ingest.BadSchema.Load(),
		"mailbox_dropped":     p.Ingest.Dropped.Load(),
		"ingest_bus_dropped":  p.Ingest.BusDropped(),
	}
	for _, d := range p.Downsamplers {
		c["downsampler_"+d.Period.Name+"_too_old"] = d.TooOld.Load()
		c["downsampler_"+d.Period.Name+"_future"] = d.Future.Load()
		c["downsampler_"+d.Period.Name+"_published"] = d.Published.Load()
	}
	return c
}
