// Package actors is ringwatch's small actor runtime; its sub-packages are the
// actors themselves: pipeline (ingest and the downsamplers), systeminfo and
// uptime (the kinds: their sources, samples and aggregate modes).
//
// An actor is any type with a Run(ctx) error method. It owns its state, runs in
// one goroutine, and talks to other actors only through messages: the NATS bus or
// a bounded Mailbox. Nothing else reads an actor's memory; actors that must be read
// by others (the downsamplers, the ingest stage) publish immutable snapshots.
//
// # Supervision
//
// A Supervisor starts actors, restarts one that returns an error or panics (with
// exponential back-off whose failure count decays over time), and reports each
// actor's State and restarts (/healthz, /metrics). An actor that returns an
// error wrapping ErrDoNotRestart is marked failed and left alone. An actor that
// returns nil before it was asked to stop is marked stopped and not restarted.
//
// Stop runs in stages, lowest Stage first, each with the shared deadline: the
// pollers stop (no new samples), the ingest stage flushes the bus into the
// downsamplers' mailboxes, the downsamplers drain their mailboxes, the persistence
// actor writes the final snapshot, the API closes, and the bus shuts down last.
//
// # Mailboxes
//
// Mailbox senders never block. When a mailbox is full the offered (newest) message
// is dropped and counted; each mailbox reports its depth, capacity and drops by
// name (MailboxStats, on /metrics and /api/v1/stats). Dropping the newest keeps
// what is already queued in order and costs nothing to decide.
//
// # Pollers
//
// Poller runs one Source on a fixed interval, publishes each sample as JSON on
// ringwatch.raw.<host>.<kind>, and aggregates the source's reported problems into
// one log line per window (see ErrorWindow), never one line per poll. It keeps
// its figures (PollerStats), with each collector's when the source is made of
// collectors (CollectorReporter).
//
// actors imports nothing of ringwatch's; its sub-packages import it,
// aggregators and bus.
package actors
