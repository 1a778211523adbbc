package actors

import (
	"context"
	"sync/atomic"
)

// Mailbox is a bounded queue in front of one actor. Offer never blocks: when the
// mailbox is full the offered message is dropped and counted, so a slow actor
// loses its newest input instead of stalling whoever sends to it.
type Mailbox[T any] struct {
	name    string
	ch      chan T
	dropped atomic.Uint64
}

// NewMailbox returns a mailbox that holds at most size messages.
func NewMailbox[T any](name string, size int) *Mailbox[T] {
	return &Mailbox[T]{name: name, ch: make(chan T, size)}
}

// Offer queues v, or drops and counts it when the mailbox is full.
func (m *Mailbox[T]) Offer(v T) bool {
	select {
	case m.ch <- v:
		return true
	default:
		m.dropped.Add(1)
		return false
	}
}

// Put queues v, waiting for room while ctx lasts; when ctx ends first, v is
// dropped and counted. For senders that can hold their own source back (a
// replay, which the stream keeps), where dropping would lose data.
func (m *Mailbox[T]) Put(ctx context.Context, v T) bool {
	select {
	case m.ch <- v:
		return true
	default:
	}
	select {
	case m.ch <- v:
		return true
	case <-ctx.Done():
		m.dropped.Add(1)
		return false
	}
}

// C is the receiving end, for the owning actor only.
func (m *Mailbox[T]) C() <-chan T { return m.ch }

// Name is the mailbox's name in reports.
func (m *Mailbox[T]) Name() string { return m.name }

// Len is how many messages are queued.
func (m *Mailbox[T]) Len() int { return len(m.ch) }

// Dropped is how many offered messages were dropped because the mailbox was full.
func (m *Mailbox[T]) Dropped() uint64 { return m.dropped.Load() }

// MailboxStats is one mailbox's figures.
type MailboxStats struct {
	Name     string `json:"name"`
	Depth    int    `json:"depth"`    // messages waiting
	Capacity int    `json:"capacity"` // the most it holds
	Dropped  uint64 `json:"dropped"`  // offered while full
}

// Stats reads the mailbox's figures; safe from any goroutine.
func (m *Mailbox[T]) Stats() MailboxStats {
	return MailboxStats{Name: m.name, Depth: len(m.ch), Capacity: cap(m.ch), Dropped: m.dropped.Load()}
}
