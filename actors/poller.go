package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Reporter receives a source's problems during a poll. A source reports what it
// could not read and still returns what it could.
type Reporter interface {
	Warn(source string, err error)
	Error(source string, err error)
}

// Source produces one sample per call. The sample must encode to a JSON object
// with a top-level "timestamp" in Unix seconds. A Source is used by one goroutine
// at a time and may keep state between calls (previous counters, caches).
type Source interface {
	Poll(ctx context.Context, r Reporter) (sample any, err error)
}

// ErrNoSample, returned by a Source, means there is nothing to report this
// time (an uptime monitor without routes): nothing is published or logged.
var ErrNoSample = errors.New("no sample")

// Publisher sends one encoded sample to subject.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Flusher is implemented by publishers that buffer.
type Flusher interface {
	Flush() error
}

// CollectorStats is one part of a source's poll, as node_exporter reports its
// collectors: how long it took last time and whether it failed.
type CollectorStats struct {
	Name         string  `json:"name"`
	Polls        uint64  `json:"polls"`
	Errors       uint64  `json:"errors"` // polls in which this part was lost
	LastDuration float64 `json:"last_duration_seconds"`
	LastError    string  `json:"last_error,omitempty"` // of the last poll; empty when it succeeded
	// FailingSince is the Unix time (seconds, with a fraction) of the first
	// failure of the current unbroken run of failures; 0 when the last poll
	// succeeded.
	FailingSince float64 `json:"failing_since,omitempty"`
}

// Record counts one poll that began at start and took d; err is why it
// failed, nil when it succeeded.
func (c *CollectorStats) Record(start time.Time, d time.Duration, err error) {
	c.Polls++
	c.LastDuration = d.Seconds()
	c.LastError = ""
	if err == nil {
		c.FailingSince = 0
		return
	}
	c.Errors++
	c.LastError = err.Error()
	if c.FailingSince == 0 {
		c.FailingSince = float64(start.UnixNano()) / 1e9
	}
}

// CollectorReporter is implemented by sources made of collectors. The poller
// calls Collectors on its own goroutine after every poll.
type CollectorReporter interface {
	Collectors() []CollectorStats
}

// PollerStats is one poller's figures: the poll as a whole (a failed poll
// published nothing) and, when its source reports them, each collector.
type PollerStats struct {
	Kind string `json:"kind"`
	CollectorStats
	PublishErrors uint64           `json:"publish_errors"`
	Collectors    []CollectorStats `json:"collectors,omitempty"`
}

// Poller is the actor that runs one Source every Interval and publishes its
// samples on Subject. A poll that overruns skips ticks instead of overlapping;
// a poll is given the interval to finish (the Source's context ends then).
type Poller struct {
	Name     string // kind name, for logs
	Subject  string
	Interval time.Duration
	Window   time.Duration // error report window; 30 s when zero
	Source   Source
	Pub      Publisher
	Log      *slog.Logger

	stats   atomic.Pointer[PollerStats] // replaced after every poll
	current PollerStats                 // owned by Run
}

// Stats reads the poller's figures as of its last poll; safe from any goroutine.
func (p *Poller) Stats() PollerStats {
	if st := p.stats.Load(); st != nil {
		return *st
	}
	return PollerStats{Kind: p.Name, CollectorStats: CollectorStats{Name: "poll"}}
}

// Run polls until ctx is done. The first poll happens one interval after start,
// so that rate and CPU figures cover a real interval.
func (p *Poller) Run(ctx context.Context) error {
	window := p.Window
	if window <= 0 {
		window = 30 * time.Second
	}
	ew := NewErrorWindow(p.Log.With("poller", p.Name), window)
	defer ew.Flush()
	if f, ok := p.Pub.(Flusher); ok {
		defer func() { _ = f.Flush() }()
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			p.pollOnce(ctx, ew)
			ew.Tick(now)
		}
	}
}

func (p *Poller) pollOnce(ctx context.Context, ew *ErrorWindow) {
	start := time.Now()
	err := p.poll(ctx, ew)
	if ctx.Err() != nil {
		return // stopping: an interrupted poll is not a failure
	}
	st := &p.current
	st.Kind, st.Name = p.Name, "poll"
	st.Record(start, time.Since(start), err)
	if cr, ok := p.Source.(CollectorReporter); ok {
		st.Collectors = cr.Collectors()
	}
	snap := *st
	p.stats.Store(&snap)
}

// poll runs the source once and publishes its sample. It returns the error
// that cost the sample, if any.
func (p *Poller) poll(ctx context.Context, ew *ErrorWindow) error {
	pctx, cancel := context.WithTimeout(ctx, p.Interval)
	defer cancel()
	sample, err := p.Source.Poll(pctx, ew)
	if errors.Is(err, ErrNoSample) {
		return nil
	}
	if err != nil {
		if ctx.Err() == nil {
			ew.Error("poll", err)
		}
		return err
	}
	msgs := []any{sample}
	if m, ok := sample.(Multipart); ok {
		msgs = m.Parts()
	}
	for _, msg := range msgs {
		data, err := json.Marshal(msg)
		if err != nil {
			ew.Error("encode", err)
			return err
		}
		if err := p.Pub.Publish(p.Subject, data); err != nil {
			p.current.PublishErrors++
			ew.Error("publish", fmt.Errorf("%s: %w", p.Subject, err))
			return err
		}
	}
	return nil
}

// Multipart is a sample too large for one message: the poller publishes
// each part as a message of its own (see aggregators.Kind.Merge).
type Multipart interface {
	Parts() []any
}

var (
	_ Actor    = (*Poller)(nil)
	_ Reporter = (*ErrorWindow)(nil)
)
