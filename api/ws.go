package api

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// WebSocket behaviour, the same on every route:
//   - the first frame goes out at once, then at most one every interval and
//     only when the payload changed; a frame's payload is byte for byte the
//     REST body of the same query;
//   - a text "ping" is answered with a text "pong"; the server also sends
//     protocol pings, and closes a client that sends nothing (not even a
//     pong) for PongWait;
//   - an invalid request is upgraded and then closed with 1000 and the error
//     as the reason (GoDoxy's web UI does not reconnect on 1000);
//   - each connection has its own writer and a bounded queue: metrics keep
//     only the newest frame, the stream relay a FIFO of StreamQueue frames. A
//     connection whose write stays blocked for WriteTimeout, or whose relay
//     queue overflows, is closed with 1013 and counted; the others never wait
//     for it;
//   - on shutdown every socket gets 1001 and the server waits for them.

// frame is one outgoing message, encoded once for every socket it goes to.
type frame struct {
	pm   *websocket.PreparedMessage
	body []byte
}

func newFrame(body []byte) (*frame, error) {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, body)
	if err != nil {
		return nil, err
	}
	return &frame{pm: pm, body: body}, nil
}

// socket is one live WebSocket connection.
type socket struct {
	s      *Server
	conn   *fws.Conn
	latest atomic.Pointer[frame] // metrics: only the newest frame is kept
	queue  chan *frame           // stream relay: every frame, in order
	wake   chan struct{}         // a frame is waiting
	pong   chan struct{}         // a text ping wants a text pong
	bye    chan closeReason      // close with this code and reason
	done   chan struct{}         // the reader has returned
	slow   atomic.Bool           // counted as closed for being slow
	queued atomic.Int64          // bytes in queue
	limit  int64                 // the most bytes queue may hold
	pull   func() *frame         // all_system_info: the next frame due, or nil
}

type closeReason struct {
	code   int
	reason string
}

func (s *Server) newSocket(conn *fws.Conn, queue int) *socket {
	k := &socket{s: s, conn: conn, wake: make(chan struct{}, 1), pong: make(chan struct{}, 1),
		bye: make(chan closeReason, 1), done: make(chan struct{})}
	if queue > 0 {
		k.queue = make(chan *frame, queue)
	}
	return k
}

// offer hands the socket the newest frame of its query; never blocks.
func (k *socket) offer(f *frame) {
	k.latest.Store(f)
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// enqueue hands the relay a frame; a full queue (in frames or in bytes)
// closes the socket (1013).
func (k *socket) enqueue(f *frame) {
	if k.slow.Load() {
		return // closing: nothing after a gap
	}
	n := int64(len(f.body))
	if k.queued.Add(n) > k.limit && k.limit > 0 {
		k.queued.Add(-n)
		k.tooSlow("too slow: the relay queue is full")
		return
	}
	select {
	case k.queue <- f:
		select {
		case k.wake <- struct{}{}:
		default:
		}
	default:
		k.queued.Add(-n)
		k.tooSlow("too slow: the relay queue is full")
	}
}

// tooSlow closes the socket with 1013 and counts it, once.
func (k *socket) tooSlow(reason string) {
	if k.slow.CompareAndSwap(false, true) {
		k.s.wsSlowClosed.Add(1)
	}
	k.close(websocket.CloseTryAgainLater, reason)
}

// close asks the writer to send a close frame; the first request wins.
func (k *socket) close(code int, reason string) {
	select {
	case k.bye <- closeReason{code, reason}:
	default:
	}
}

// run serves the socket until it closes: it reads on this goroutine and
// writes on another, and returns only when both are done (the connection
// object is pooled and reused after the handler returns).
func (k *socket) run(start func(k *socket) (stop func())) {
	s := k.s
	if !s.sockets.add(k) { // the server is shutting down
		_ = k.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		return
	}
	defer s.sockets.remove(k)
	var wg sync.WaitGroup
	wg.Go(k.writer)
	stop := start(k)
	k.reader()
	close(k.done)
	if stop != nil {
		stop()
	}
	wg.Wait()
}

func (k *socket) reader() {
	c := k.conn
	c.SetReadLimit(4 << 10)
	extend := func() { _ = c.SetReadDeadline(time.Now().Add(k.s.cfg.PongWait)) }
	extend()
	c.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) && !k.s.stopping.Load() {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					k.s.wsTimeouts.Add(1)
				}
			}
			return
		}
		extend()
		if typ == websocket.TextMessage && bytes.Equal(bytes.TrimSpace(msg), []byte("ping")) {
			select {
			case k.pong <- struct{}{}:
			default:
			}
		}
	}
}

func (k *socket) writer() {
	c := k.conn
	ping := time.NewTicker(k.s.cfg.PingPeriod)
	defer ping.Stop()
	write := func(f *frame) bool {
		_ = c.SetWriteDeadline(time.Now().Add(k.s.cfg.WriteTimeout))
		if err := c.WritePreparedMessage(f.pm); err != nil {
			k.stuck(err)
			return false
		}
		return true
	}
	for {
		select {
		case <-k.done:
			return
		case r := <-k.bye:
			k.sendClose(r)
			return
		case <-k.pong:
			_ = c.SetWriteDeadline(time.Now().Add(k.s.cfg.WriteTimeout))
			if err := c.WriteMessage(websocket.TextMessage, []byte("pong")); err != nil {
				k.stuck(err)
				return
			}
		case <-ping.C:
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(k.s.cfg.WriteTimeout)); err != nil {
				k.stuck(err)
				return
			}
		case <-k.wake:
			if k.pull != nil {
				for f := k.pull(); f != nil; f = k.pull() {
					if !write(f) {
						return
					}
					select {
					case r := <-k.bye: // a close between two frames of a long round
						k.sendClose(r)
						return
					default:
					}
				}
			} else if k.queue != nil {
				for {
					select {
					case f := <-k.queue:
						k.queued.Add(-int64(len(f.body)))
						if !write(f) {
							return
						}
						continue
					default:
					}
					break
				}
			} else if f := k.latest.Swap(nil); f != nil && !write(f) {
				return
			}
		}
	}
}

// sendClose writes a close frame and waits (briefly) for the reader to see
// the peer's answer; a peer that does not answer is cut off.
func (k *socket) sendClose(r closeReason) {
	c := k.conn
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r.code, r.reason), time.Now().Add(time.Second))
	t := time.NewTimer(k.s.cfg.CloseWait)
	defer t.Stop()
	select {
	case <-k.done:
	case <-t.C:
		_ = c.NetConn().SetReadDeadline(time.Now())
	}
}

// stuck handles a failed write: a timeout means the peer stopped reading.
func (k *socket) stuck(err error) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() && k.slow.CompareAndSwap(false, true) {
		k.s.wsSlowClosed.Add(1)
		_ = k.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too slow: writes timed out"), time.Now().Add(100*time.Millisecond))
	}
	_ = k.conn.NetConn().SetReadDeadline(time.Now()) // unblock the reader
}

// sockets is the registry of live sockets, for shutdown. Once closeAll has
// begun, no socket is added until open.
type sockets struct {
	mu      sync.Mutex
	live    map[*socket]struct{}
	closing bool
	empty   chan struct{} // closed when the last socket leaves while closing
}

// open accepts sockets again (the API actor's Run, after a restart).
func (r *sockets) open() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closing = false
}

// add registers k; false when the server is closing its sockets.
func (r *sockets) add(k *socket) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	if r.live == nil {
		r.live = map[*socket]struct{}{}
	}
	r.live[k] = struct{}{}
	return true
}

func (r *sockets) remove(k *socket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, k)
	if len(r.live) == 0 && r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
}

func (r *sockets) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// closeAll sends 1001 to every socket and waits for them until ctx ends.
func (r *sockets) closeAll(ctx context.Context) bool {
	r.mu.Lock()
	r.closing = true
	for k := range r.live {
		k.close(websocket.CloseGoingAway, "server shutting down")
	}
	if len(r.live) == 0 {
		r.mu.Unlock()
		return true
	}
	empty := make(chan struct{})
	r.empty = empty
	r.mu.Unlock()
	select {
	case <-empty:
		return true
	case <-ctx.Done():
		return false
	}
}

// refuse answers a request that was valid enough to upgrade but not to
// serve: the socket is closed at once with 1000 and the error as reason.
func (s *Server) refuse(c *fws.Conn, err error) {
	msg := err.Error()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	if len(msg) > 120 { // a close reason must fit in a control frame
		msg = msg[:120]
	}
	k := s.newSocket(c, 0)
	k.run(func(k *socket) func() {
		k.close(websocket.CloseNormalClosure, msg)
		return nil
	})
}
