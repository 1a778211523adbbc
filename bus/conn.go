package bus

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Header names and values every ringwatch message carries.
const (
	SchemaHeader  = "Ringwatch-Schema"
	SchemaVersion = "1"
)

// SentHeader, optional on raw samples, is when the publisher sent the
// sample, in Unix nanoseconds: the hub measures publish-to-ring latency from
// it (the load generator sets it).
const SentHeader = "Ringwatch-Sent"

// NameHeader, optional on raw samples, is the host's name as its agent was
// given it ("My NAS"), of which the subject's host token is derived: the
// API shows it where GoDoxy's web UI expects the agent's name.
const NameHeader = "Ringwatch-Name"

// SeqHeader, optional on raw samples, numbers an agent's samples:
// "<boot>.<n>", both in base 36, boot random per agent process and n
// rising by one per sample. An agent sends again what the hub may have
// missed when a connection dies; the hub drops, by this number, what it
// had already (ParseSeq).
const SeqHeader = "Ringwatch-Seq"

// FormatSeq is the SeqHeader value of sample n of boot.
func FormatSeq(boot, n uint64) string {
	return strconv.FormatUint(boot, 36) + "." + strconv.FormatUint(n, 36)
}

// ParseSeq reads a SeqHeader value; ok is false for a missing or malformed
// one, or a zero boot.
func ParseSeq(v string) (boot, n uint64, ok bool) {
	b, s, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	boot, err1 := strconv.ParseUint(b, 36, 64)
	n, err2 := strconv.ParseUint(s, 36, 64)
	return boot, n, err1 == nil && err2 == nil && boot != 0
}

// seqOf is m's sequence number within its agent's boot, or 0.
func seqOf(m *Msg) uint64 {
	_, n, _ := ParseSeq(m.Header.Get(SeqHeader))
	return n
}

// Msg is one message as delivered: its subject, payload and headers. It is
// nats.go's own type, named here so that no package but bus imports nats.go.
// A delivered message belongs to its receiver; its Data may be kept.
type Msg = nats.Msg

// Header is a message's headers.
type Header = nats.Header

// Conn is one client connection to the bus.
type Conn struct {
	nc      *nats.Conn
	srv     *Server // the embedded server, for in-process connections
	closing atomic.Bool
}

// Interest reports whether anybody subscribes to subject. Only an
// in-process connection knows (its server's account does); any other
// connection answers true.
func (c *Conn) Interest(subject string) bool {
	if c.srv == nil {
		return true
	}
	return c.srv.ns.GlobalAccount().SubscriptionInterest(subject)
}

// Publish sends data on subject with the schema header.
func (c *Conn) Publish(subject string, data []byte) error {
	return c.nc.PublishMsg(&nats.Msg{
		Subject: subject,
		Data:    data,
		Header:  nats.Header{SchemaHeader: []string{SchemaVersion}},
	})
}

// PublishMsg sends m as it is, headers included (tests and tools that speak
// for other publishers).
func (c *Conn) PublishMsg(m *Msg) error { return c.nc.PublishMsg(m) }

// Flush waits until the server has received everything published so far.
// On a subscriber's connection it also means that every message the server
// sent before the answer has been delivered to the subscription's queue.
func (c *Conn) Flush() error { return c.nc.Flush() }

// Close drains nothing and closes the connection.
func (c *Conn) Close() {
	c.closing.Store(true)
	c.nc.Close()
	if c.srv != nil {
		c.srv.forget(c)
	}
}

// Subscribe calls h for every message on subject (wildcards allowed), one at
// a time, on a goroutine of the subscription's own. h must not block: the
// queue in front of it is unbounded, so a handler that hands messages on must
// bound them itself (as the WebSocket relay's per-socket queue does).
func (c *Conn) Subscribe(subject string, h func(*Msg)) (*Subscription, error) {
	sub, err := c.nc.Subscribe(subject, h)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return &Subscription{sub: sub}, nil
}

// SubscribeBounded is Subscribe with the subscription's queue bounded to
// maxBytes of pending messages: past it the client library drops them and
// the connection's ConnOptions.OnSlow is called.
func (c *Conn) SubscribeBounded(subject string, maxBytes int, h func(*Msg)) (*Subscription, error) {
	sub, err := c.nc.Subscribe(subject, h)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, maxBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return &Subscription{sub: sub}, nil
}

// ChanSubscribe delivers every message on subject into ch without blocking:
// when ch is full the message is dropped and counted (Dropped). ch is the
// receiving actor's bounded mailbox.
func (c *Conn) ChanSubscribe(subject string, ch chan *Msg) (*Subscription, error) {
	sub, err := c.nc.ChanSubscribe(subject, ch)
	if err != nil {
		return nil, err
	}
	return &Subscription{sub: sub}, nil
}

// Subscriptions is how many subscriptions the connection has.
func (c *Conn) Subscriptions() int { return c.nc.NumSubscriptions() }

// Subscription is one subscription to a subject.
type Subscription struct {
	sub *nats.Subscription
}

// Dropped is how many messages the client library dropped because the
// subscriber's queue was full.
func (s *Subscription) Dropped() uint64 {
	n, err := s.sub.Dropped()
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// Unsubscribe stops the delivery of further messages.
func (s *Subscription) Unsubscribe() error { return s.sub.Unsubscribe() }

// Pending is how many messages wait in the client library for a handler
// subscription's handler (0 for a channel subscription: its channel holds
// them).
func (s *Subscription) Pending() int {
	n, _, err := s.sub.Pending()
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// SchemaOK reports whether msg is of a schema this build understands. A message
// without the header is taken to be schema 1, so hand-published test messages work.
func SchemaOK(msg *Msg) bool {
	if msg.Header == nil {
		return true
	}
	v := msg.Header.Get(SchemaHeader)
	return v == "" || v == SchemaVersion
}
