package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// The replay stream: raw samples kept by JetStream for a while (limited by
// age and by bytes), so that a hub that was down catches up on what it
// missed, from where its state ends (a stream sequence).

// ReplayStream is the stream's name.
const ReplayStream = "RINGWATCH_RAW"

// ReplayOptions turn on JetStream in the embedded server.
type ReplayOptions struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// MaxBytes bounds JetStream's file storage.
	MaxBytes int64
}

// StreamConfig is what EnsureStream makes.
type StreamConfig struct {
	Window   time.Duration // how long a raw sample is kept
	MaxBytes int64         // and at most this much of them, oldest dropped first
	Replicas int           // copies across the cluster's nodes
}

// EnsureStream creates the replay stream, or updates it to cfg, retrying
// until ctx ends (a cluster elects its JetStream leader first).
func (c *Conn) EnsureStream(ctx context.Context, cfg StreamConfig) error {
	js, err := c.nc.JetStream()
	if err != nil {
		return fmt.Errorf("bus: jetstream: %w", err)
	}
	sc := &nats.StreamConfig{
		Name: ReplayStream, Subjects: []string{RawPrefix + ">"}, Storage: nats.FileStorage,
		Retention: nats.LimitsPolicy, Discard: nats.DiscardOld, MaxAge: cfg.Window, MaxBytes: cfg.MaxBytes,
		Replicas: max(cfg.Replicas, 1), Duplicates: time.Second,
	}
	for {
		// An existing stream is updated: adding it again would reserve its
		// bytes a second time.
		// Each try waits 2 s at most: a request sent before the cluster has
		// a leader gets no answer.
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err = js.StreamInfo(ReplayStream, nats.Context(try)); err == nil {
			_, err = js.UpdateStream(sc, nats.Context(try))
		} else if errors.Is(err, nats.ErrStreamNotFound) {
			_, err = js.AddStream(sc, nats.Context(try))
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: replay stream: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// StreamLastSeq is the replay stream's last sequence (0: empty).
func (c *Conn) StreamLastSeq() (uint64, error) {
	js, err := c.nc.JetStream()
	if err != nil {
		return 0, fmt.Errorf("bus: jetstream: %w", err)
	}
	si, err := js.StreamInfo(ReplayStream, nats.MaxWait(5*time.Second))
	if err != nil {
		return 0, fmt.Errorf("bus: replay stream: %w", err)
	}
	return si.State.LastSeq, nil
}

// ReplaySubscribe delivers the replay stream's messages on subject into ch,
// in stream order, from those stored at from (zero: everything kept): an
// ordered consumer, which starts again after the last message delivered
// whenever one is missed (ch full, say), so nothing is lost while the
// stream keeps it. StreamPosition tells where a message stands.
func (c *Conn) ReplaySubscribe(subject string, from time.Time, ch chan *Msg) (*Subscription, error) {
	js, err := c.nc.JetStream()
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	start := nats.DeliverAll()
	if !from.IsZero() {
		start = nats.StartTime(from)
	}
	sub, err := js.ChanSubscribe(subject, ch, nats.BindStream(ReplayStream), nats.OrderedConsumer(), start,
		nats.IdleHeartbeat(time.Second)) // a consumer lost with its node is noticed and made again within seconds
	if err != nil {
		return nil, fmt.Errorf("bus: replay subscription: %w", err)
	}
	return &Subscription{sub: sub}, nil
}

// StreamPosition is the stream sequence of a message delivered by
// ReplaySubscribe and when the stream stored it (zeros for any other).
func StreamPosition(m *Msg) (seq uint64, stored time.Time) {
	if m.Reply == "" {
		return 0, time.Time{}
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, time.Time{}
	}
	return md.Sequence.Stream, md.Timestamp
}
