package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Credentials are how a client proves itself to a secure hub, and the TLS
// files it uses for tls:// URLs.
type Credentials struct {
	NkeySeed           string // file holding an nkey seed
	User, PasswordFile string
	CredsFile          string // NATS credentials file (JWT and seed)
	TLSCA              string // CA of the hub's certificate
	TLSCert, TLSKey    string // client certificate, for mutual TLS
}

// options turns the credentials into nats.go options.
func (c Credentials) options() ([]nats.Option, error) {
	var opts []nats.Option
	ways := 0
	if c.NkeySeed != "" {
		ways++
		o, err := nats.NkeyOptionFromSeed(c.NkeySeed)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", c.NkeySeed, err)
		}
		opts = append(opts, o)
	}
	if c.User != "" || c.PasswordFile != "" {
		ways++
		if c.User == "" || c.PasswordFile == "" {
			return nil, errors.New("--user and --password-file go together")
		}
		pw, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		opts = append(opts, nats.UserInfo(c.User, strings.TrimRight(string(pw), "\r\n")))
	}
	if c.CredsFile != "" {
		ways++
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("creds file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if ways > 1 {
		return nil, errors.New("one credential at a time: --nkey-seed, --user with --password-file, or --creds")
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// OutboxOptions configure an agent's connection.
type OutboxOptions struct {
	URLs, Name string
	Creds      Credentials
	// Buffer is how many samples are kept while the hub is unreachable;
	// beyond it the oldest are dropped and counted.
	Buffer int
	Log    *slog.Logger
	// PingInterval is how often the connection checks that the hub
	// answers; two unanswered pings end the connection (default 5 s).
	PingInterval time.Duration
	// Acked sends each sample as a JetStream publish to the hubs' replay
	// stream and keeps it until the stream says it stored it; one that is
	// not acknowledged (a cluster electing the stream's leader, say) is
	// sent again. Host names the agent, for its inbox (AgentInbox).
	Acked bool
	Host  string
	// HostName is the host's name as given (NameHeader), sent with every
	// sample; empty: none.
	HostName string
}

// Outbox is an agent's connection to the hub. It connects in the
// background and reconnects for ever with back-off and jitter; while the
// hub is unreachable, what is published waits in a bounded buffer, the
// oldest dropped beyond it, and is sent in order once the hub is back. Each
// outage ends with one log line: how long it lasted, how many samples were
// buffered and how many dropped.
type Outbox struct {
	name string
	nc   *nats.Conn
	js   nats.JetStreamContext // when Acked
	log  *slog.Logger
	max  int

	mu       sync.Mutex
	queue    []queued // waiting, oldest first
	up       bool     // connected, as last reported
	down     time.Time
	buffered uint64 // this outage
	dropped  uint64 // this outage
	resent   uint64 // this outage: sent before it was noticed, unconfirmed
	total    OutboxStats
	resendAt time.Time // after an unacknowledged sample, when to try again
	boot     uint64    // this outbox's random identity, in SeqHeader
	seq      uint64    // the last sequence number given
	// unconfirmed are the samples sent over core NATS (not Acked) that the
	// hub has not yet been seen to process, oldest first: a hub that stops
	// answering still takes bytes into its socket until the connection is
	// found dead (two pings), and what it took then is lost. A flush (a
	// PING answered by a PONG, after everything before it was processed)
	// confirms them; a lost connection puts them back at the head of the
	// queue, and the hub drops those it had after all by their sequence.
	unconfirmed []queued
	draining    bool
	closed      bool
	wake        chan struct{}
	drainDone   chan struct{}
}

type queued struct {
	subject string
	data    []byte
	seq     uint64
	conn    uint64 // when sent: the connection's reconnect count
}

// OutboxStats are an outbox's figures since it was opened.
type OutboxStats struct {
	Outages  uint64
	Buffered uint64 // samples that waited for the hub
	Dropped  uint64 // samples dropped from a full buffer
	Waiting  int    // samples waiting now
	Resent   uint64 // samples sent again: not acknowledged, or not confirmed before a connection died
	// Unconfirmed are samples sent that the hub has not yet been seen to
	// process (see Outbox).
	Unconfirmed int
}

// ConfirmEvery is how often an outbox confirms what it sent (see Outbox):
// one round trip per agent per period. A round trip costs about 30 µs of
// CPU, client and server together (BenchmarkConfirmRoundTrip), so at 5 s
// 10,000 agents cost the hub a few percent of a core; what an agent sends
// again unconfirmed, the hub drops as duplicates.
const ConfirmEvery = 5 * time.Second

// DialOutbox opens an agent's connection. It fails only for a bad
// configuration (an unreadable credential, say), never because the hub
// cannot be reached.
func DialOutbox(o OutboxOptions) (*Outbox, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	b := &Outbox{name: o.HostName, log: log, max: max(o.Buffer, 1), wake: make(chan struct{}, 1), drainDone: make(chan struct{}),
		boot: rand.Uint64() | 1}
	creds, err := o.Creds.options()
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	ping := o.PingInterval
	if ping <= 0 {
		ping = 5 * time.Second
	}
	opts := append([]nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1), // the outbox buffers, not nats.go
		nats.PingInterval(ping), nats.MaxPingsOutstanding(2), nats.Timeout(2 * time.Second),
		nats.CustomReconnectDelay(backoff),
		nats.ErrorHandler(errorHandler(log)),
		nats.ConnectHandler(b.connected),
		nats.ReconnectHandler(b.connected),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { b.disconnected(err) }),
	}, creds...)
	if o.Acked {
		opts = append(opts, nats.CustomInboxPrefix(AgentInbox(o.Host)))
	}
	nc, err := nats.Connect(o.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: dial %s: %w", o.URLs, err)
	}
	b.nc = nc
	if o.Acked {
		b.js, err = nc.JetStream(nats.PublishAsyncMaxPending(1024), nats.PublishAsyncTimeout(5*time.Second),
			nats.PublishAsyncErrHandler(func(_ nats.JetStream, m *nats.Msg, _ error) { b.resend(m) }))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("bus: %w", err)
		}
	}
	go b.drain()
	if b.js == nil {
		go b.confirm(ConfirmEvery)
	}
	if nc.IsConnected() {
		b.connected(nc)
	} else {
		b.mu.Lock()
		if !b.up {
			b.down = time.Now()
			log.Warn("hub unreachable; buffering samples until it answers", "bus", o.URLs)
		}
		b.mu.Unlock()
	}
	return b, nil
}

// backoff is the wait before reconnect attempt n: 250 ms doubling to 10 s,
// with up to half of it again at random, so that agents that lost the same
// hub do not all come back at once.
func backoff(attempts int) time.Duration {
	d := 250 * time.Millisecond << min(attempts, 6)
	d = min(d, 10*time.Second)
	return d + rand.N(d/2+1)
}

func (b *Outbox) connected(nc *nats.Conn) {
	conn := nc.Stats().Reconnects
	b.mu.Lock()
	b.requeue(func(q queued) bool { return q.conn != conn }) // sent on an earlier connection
	b.up = true
	b.mu.Unlock()
	b.kick()
}

// requeue puts the unconfirmed samples lost says were lost back at the
// head of the queue, to be sent again on the next connection. b.mu is held.
func (b *Outbox) requeue(lost func(queued) bool) {
	var again, kept []queued
	for _, q := range b.unconfirmed {
		if lost(q) {
			again = append(again, q)
		} else {
			kept = append(kept, q)
		}
	}
	if len(again) == 0 {
		return
	}
	b.total.Resent += uint64(len(again))
	b.resent += uint64(len(again))
	b.queue = append(again, b.queue...)
	b.unconfirmed = kept
	if over := len(b.queue) - b.max; over > 0 {
		clear(b.queue[:over])
		b.queue = b.queue[over:]
		b.dropped += uint64(over)
		b.total.Dropped += uint64(over)
	}
}

func (b *Outbox) disconnected(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.up = false
	b.requeue(func(queued) bool { return true })
	if b.down.IsZero() {
		b.down = time.Now()
		b.log.Warn("hub unreachable; buffering samples until it answers", "err", err)
	}
}

func (b *Outbox) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Publish sends data on subject with the schema header, or keeps it until
// the hub is reachable. It does not fail for the hub being away.
func (b *Outbox) Publish(subject string, data []byte) error {
	b.mu.Lock()
	b.seq++
	q := queued{subject: subject, data: data, seq: b.seq}
	if b.up && len(b.queue) == 0 && !b.draining {
		b.mu.Unlock()
		err := b.send(&q)
		if err == nil {
			return nil
		}
		if !away(err) {
			return err // too large, say: waiting will not help
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.closed {
		return nats.ErrConnectionClosed
	}
	b.enqueue(q)
	b.kick()
	return nil
}

// away says whether a publish failed for the hub being unreachable (the
// connection is reconnecting).
func away(err error) bool {
	return errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrTooManyStalledMsgs)
}

// enqueue adds q at the end of the queue, dropping the oldest when full.
// b.mu is held.
func (b *Outbox) enqueue(q queued) {
	if len(b.queue) >= b.max {
		n := len(b.queue) - b.max + 1
		clear(b.queue[:n])
		b.queue = b.queue[n:]
		b.dropped += uint64(n)
		b.total.Dropped += uint64(n)
	}
	b.queue = append(b.queue, q)
	b.buffered++
	b.total.Buffered++
}

// send publishes q; over core NATS it then waits among the unconfirmed.
func (b *Outbox) send(q *queued) error {
	m := &nats.Msg{Subject: q.subject, Data: q.data, Header: nats.Header{SchemaHeader: []string{SchemaVersion},
		SeqHeader: []string{FormatSeq(b.boot, q.seq)}}}
	if b.name != "" {
		m.Header[NameHeader] = []string{b.name}
	}
	if b.js != nil {
		_, err := b.js.PublishMsgAsync(m)
		return err
	}
	q.conn = b.nc.Stats().Reconnects // read before: a reconnect meanwhile only makes q look older
	if err := b.nc.PublishMsg(m); err != nil {
		return err
	}
	b.mu.Lock()
	if len(b.unconfirmed) >= b.max { // not confirmed for a whole buffer: give up the oldest
		b.unconfirmed[0] = queued{}
		b.unconfirmed = b.unconfirmed[1:]
	}
	b.unconfirmed = append(b.unconfirmed, *q)
	b.mu.Unlock()
	return nil
}

// confirm, every interval, confirms what was sent (see Outbox) until the
// outbox closes.
func (b *Outbox) confirm(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.drainDone:
			return
		case <-t.C:
			b.mu.Lock()
			n := len(b.unconfirmed)
			b.mu.Unlock()
			if n > 0 {
				_ = b.confirmSent(2 * time.Second)
			}
		}
	}
}

// confirmSent makes a round trip to the hub; when it comes back on the
// connection the samples were sent on, they were processed.
func (b *Outbox) confirmSent(timeout time.Duration) error {
	conn := b.nc.Stats().Reconnects
	b.mu.Lock()
	var upto uint64
	if n := len(b.unconfirmed); n > 0 {
		upto = b.unconfirmed[n-1].seq
	}
	b.mu.Unlock()
	if err := b.nc.FlushTimeout(timeout); err != nil {
		return err
	}
	if b.nc.Stats().Reconnects != conn {
		return nats.ErrConnectionReconnecting
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.unconfirmed[:0]
	for _, q := range b.unconfirmed {
		if q.seq > upto || q.conn != conn {
			kept = append(kept, q)
		}
	}
	clear(b.unconfirmed[len(kept):])
	b.unconfirmed = kept
	return nil
}

// resend puts a sample the stream did not acknowledge back at the head of
// the queue, to be sent again after a short wait.
func (b *Outbox) resend(m *nats.Msg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if len(b.queue) >= b.max {
		b.dropped++
		b.total.Dropped++
		return
	}
	b.queue = append([]queued{{subject: m.Subject, data: m.Data, seq: seqOf(m)}}, b.queue...)
	b.total.Resent++
	b.resendAt = time.Now().Add(250 * time.Millisecond)
	time.AfterFunc(300*time.Millisecond, b.kick)
}

// drain sends what waits, in order, whenever the hub is reachable, and
// logs the end of each outage once everything has been sent.
func (b *Outbox) drain() {
	defer close(b.drainDone)
	for range b.wake {
		for {
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				return
			}
			if !b.up {
				b.draining = false
				b.mu.Unlock()
				break
			}
			if len(b.queue) == 0 {
				b.draining = false
				b.endOutage()
				b.mu.Unlock()
				break
			}
			if time.Now().Before(b.resendAt) { // resend kicks again
				b.draining = false
				b.mu.Unlock()
				break
			}
			// Taken off the queue before it is sent: a sample the stream did
			// not acknowledge may be put back at the head meanwhile (resend).
			b.draining = true
			q := b.queue[0]
			b.popFront()
			b.mu.Unlock()
			if err := b.send(&q); err != nil {
				b.mu.Lock()
				b.draining = false
				if !away(err) { // this one will never go: drop it, go on
					b.log.Warn("buffered sample not sent", "subject", q.subject, "err", err)
				} else {
					b.queue = append([]queued{q}, b.queue...)
					if !b.nc.IsConnected() {
						b.up = false // the disconnect handler may not have run yet; connected() wakes us
						if b.down.IsZero() {
							b.down = time.Now()
						}
					}
				}
				b.mu.Unlock()
				continue
			}
		}
	}
}

func (b *Outbox) popFront() {
	if len(b.queue) > 0 {
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
	}
}

// endOutage logs the outage that just ended, if any. b.mu is held.
func (b *Outbox) endOutage() {
	if b.down.IsZero() {
		return
	}
	b.total.Outages++
	b.log.Info("hub reachable again; outage over", "lasted", time.Since(b.down).Round(time.Millisecond),
		"buffered", b.buffered, "dropped", b.dropped, "resent", b.resent)
	b.down, b.buffered, b.dropped, b.resent = time.Time{}, 0, 0, 0
}

// Stats reads the outbox's figures.
func (b *Outbox) Stats() OutboxStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.total
	st.Waiting = len(b.queue)
	st.Unconfirmed = len(b.unconfirmed)
	return st
}

// Flush waits, up to 2 s, until the hub has everything published so far,
// the buffer included; it returns at once while the hub is unreachable.
func (b *Outbox) Flush() error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.mu.Lock()
		empty, up := len(b.queue) == 0 && !b.draining, b.up
		b.mu.Unlock()
		if !up {
			return fmt.Errorf("bus: hub unreachable, %d samples waiting", b.Stats().Waiting)
		}
		if empty && b.js != nil {
			select {
			case <-b.js.PublishAsyncComplete(): // every sample acknowledged
				return nil
			case <-time.After(time.Until(deadline)):
				return fmt.Errorf("bus: %d samples not acknowledged by the replay stream", b.js.PublishAsyncPending())
			}
		}
		if empty {
			return b.confirmSent(max(time.Until(deadline), time.Millisecond))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bus: %d samples still waiting for the hub", b.Stats().Waiting)
		}
		b.kick()
		time.Sleep(10 * time.Millisecond)
	}
}

// Close closes the connection; what still waits is reported, not sent.
func (b *Outbox) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	waiting := len(b.queue)
	b.mu.Unlock()
	b.kick()
	<-b.drainDone
	b.nc.Close()
	if waiting > 0 {
		b.log.Warn("closing with samples the hub never got", "waiting", waiting)
	}
}
