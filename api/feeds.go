package api

import (
	"bytes"
	"net/url"
	"strconv"
	"sync"
	"time"

	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// feed is one query pushed at one interval to every socket that watches it.
// Its goroutine computes the answer once per tick (from the answer cache:
// only a changed view costs a new computation), encodes a changed body once
// as a prepared frame, and offers it to every subscriber. A thousand sockets
// on one query cost one computation per change and one encoding.
type feed struct {
	s        *Server
	key      string
	q        *query
	interval time.Duration

	mu   sync.Mutex
	subs map[*socket]struct{}
	last *frame
	stop chan struct{}
}

// feeds is the registry of running feeds.
type feeds struct {
	mu sync.Mutex
	m  map[string]*feed
	wg sync.WaitGroup
}

// join subscribes k to q at interval, starting the feed if needed, and hands
// k the current frame at once. The returned function unsubscribes.
func (s *Server) join(k *socket, q *query, interval time.Duration) (func(), error) {
	key := q.key + "@" + strconv.FormatInt(int64(interval), 10)
	s.feeds.mu.Lock()
	if s.feeds.m == nil {
		s.feeds.m = map[string]*feed{}
	}
	f := s.feeds.m[key]
	if f == nil {
		f = &feed{s: s, key: key, q: q, interval: interval, subs: map[*socket]struct{}{}, stop: make(chan struct{})}
		s.feeds.m[key] = f
		s.feeds.wg.Go(f.run)
	}
	f.mu.Lock()
	f.subs[k] = struct{}{}
	f.mu.Unlock()
	s.feeds.mu.Unlock()

	// The first frame at once, and fresh: if the answer changed since the
	// feed's last frame, everyone gets it now.
	first, changed, err := f.refresh()
	if err != nil {
		s.leave(f, k)
		return nil, err
	}
	if changed {
		f.broadcast(first)
	} else {
		k.offer(first)
	}
	return func() { s.leave(f, k) }, nil
}

func (s *Server) leave(f *feed, k *socket) {
	s.feeds.mu.Lock()
	defer s.feeds.mu.Unlock()
	f.mu.Lock()
	delete(f.subs, k)
	empty := len(f.subs) == 0
	f.mu.Unlock()
	if empty && s.feeds.m[f.key] == f {
		delete(s.feeds.m, f.key)
		close(f.stop)
	}
}

// refresh computes the answer and, if it changed, makes it the feed's frame.
// It returns the current frame and whether it is new.
func (f *feed) refresh() (*frame, bool, error) {
	body, err := f.s.answer(f.q)
	if err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last != nil && bytes.Equal(body, f.last.body) {
		return f.last, false, nil
	}
	fr, err := newFrame(body)
	if err != nil {
		return nil, false, err
	}
	f.last = fr
	return fr, true, nil
}

func (f *feed) broadcast(fr *frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.subs {
		k.offer(fr)
	}
}

func (f *feed) run() {
	everyTick(f.stop, f.interval, func() {
		if fr, changed, err := f.refresh(); err == nil && changed {
			f.broadcast(fr)
		}
	})
}

// everyTick calls fn every interval until stop is closed.
func everyTick(stop <-chan struct{}, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// metricsSocket serves GET /api/v1/metrics/<kind> over WebSocket.
func (s *Server) metricsSocket(c *fiber.Ctx) error {
	v := queryValues(c)
	q, err := s.parseQuery(c.Params("kind"), v)
	interval := parseInterval(v)
	c.Locals(localRequest, &socketRequest{q: q, interval: interval, err: err})
	return s.upgradeMetrics(c)
}

const localRequest = "ringwatch.request"

type socketRequest struct {
	q        *query
	values   url.Values
	interval time.Duration
	subject  string
	err      error
}

func (s *Server) serveMetrics(c *fws.Conn) {
	req := c.Locals(localRequest).(*socketRequest)
	if req.err != nil {
		s.refuse(c, req.err)
		return
	}
	k := s.newSocket(c, 0)
	k.run(func(k *socket) func() {
		stop, err := s.join(k, req.q, req.interval)
		if err != nil {
			k.close(1000, err.Error())
			return nil
		}
		return stop
	})
}

// stopAll ends every feed (their sockets are gone by then).
func (r *feeds) stopAll() {
	r.mu.Lock()
	for k, f := range r.m {
		close(f.stop)
		delete(r.m, k)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
