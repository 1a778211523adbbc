package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// Poller is the actor that runs one Source every Interval and publishes its
// samples on Subject. A poll that overruns skips ticks instead of overlapping.
type Poller struct {
	Name     string // kind name, for logs
	Subject  string
	Interval time.Duration
	Window   time.Duration // error report window; 30 s when zero
	Source   Source
	Pub      Publisher
	Log      *slog.Logger
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
	pctx, cancel := context.WithTimeout(ctx, p.Interval)
	defer cancel()
	sample, err := p.Source.Poll(pctx, ew)
	if errors.Is(err, ErrNoSample) {
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			ew.Error("poll", err)
		}
		return
	}
	data, err := json.Marshal(sample)
	if err != nil {
		ew.Error("encode", err)
		return
	}
	if err := p.Pub.Publish(p.Subject, data); err != nil {
		ew.Error("publish", fmt.Errorf("%s: %w", p.Subject, err))
	}
}

var (
	_ Actor    = (*Poller)(nil)
	_ Reporter = (*ErrorWindow)(nil)
)
