package api

import (
	"bytes"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	fws "github.com/gofiber/contrib/websocket"

	"github.com/ringwatch/ringwatch/aggregators"
)

// allFeed is one all_system_info query (period, aggregate, stat) at one
// interval, shared by every socket that watches it. Every interval its
// goroutine asks each host's answer (from the answer cache) and, for each
// host whose answer changed, keeps one frame, {"<host>": <body>}, encoded
// once for all its sockets, and marks that host for each of them.
//
// A socket's writer sends the hosts marked for it, each host's newest frame.
// A socket holds at most one mark per host, whatever it falls behind by: a
// slow reader gets fewer, newer frames, and is not closed while it keeps
// reading. A new socket starts with every host marked.
type allFeed struct {
	s        *Server
	key      string
	values   url.Values
	interval time.Duration

	mu      sync.Mutex
	frames  map[string]*frame // host -> newest frame
	bodies  map[string][]byte // host -> the body of that frame
	queries map[string]*query // host -> its parsed query
	subs    map[*allSub]struct{}
	stop    chan struct{}
}

// allSub is one socket on an allFeed.
type allSub struct {
	k     *socket
	mu    sync.Mutex
	marks map[string]struct{} // hosts whose newest frame is not sent yet
	order []string            // marks in the order they came, for fairness
}

func (a *allSub) mark(hosts []string) {
	a.mu.Lock()
	for _, h := range hosts {
		if _, ok := a.marks[h]; !ok {
			a.marks[h] = struct{}{}
			a.order = append(a.order, h)
		}
	}
	a.mu.Unlock()
	select {
	case a.k.wake <- struct{}{}:
	default:
	}
}

// next pops the next marked host.
func (a *allSub) next() (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.order) > 0 {
		h := a.order[0]
		a.order = a.order[1:]
		if _, ok := a.marks[h]; ok {
			delete(a.marks, h)
			if len(a.order) == 0 {
				a.order = nil // let a long backlog's array go
			}
			return h, true
		}
	}
	return "", false
}

// joinAll subscribes k to the feed of values at interval, starting the
// feed if needed. The returned function unsubscribes.
func (s *Server) joinAll(k *socket, values url.Values, interval time.Duration) func() {
	key := "all|" + values.Encode() + "@" + strconv.FormatInt(int64(interval), 10)
	s.allFeeds.mu.Lock()
	if s.allFeeds.m == nil {
		s.allFeeds.m = map[string]*allFeed{}
	}
	f := s.allFeeds.m[key]
	if f == nil {
		f = &allFeed{s: s, key: key, values: values, interval: interval, frames: map[string]*frame{},
			bodies: map[string][]byte{}, queries: map[string]*query{}, subs: map[*allSub]struct{}{}, stop: make(chan struct{})}
		s.allFeeds.m[key] = f
		f.tick() // the first round at once, for the first socket
		s.allFeeds.wg.Go(f.run)
	}
	sub := &allSub{k: k, marks: map[string]struct{}{}}
	k.pull = func() *frame {
		for {
			host, ok := sub.next()
			if !ok {
				return nil
			}
			f.mu.Lock()
			fr := f.frames[host]
			f.mu.Unlock()
			if fr != nil {
				return fr
			}
		}
	}
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	hosts := make([]string, 0, len(f.frames))
	for h := range f.frames {
		hosts = append(hosts, h)
	}
	f.mu.Unlock()
	s.allFeeds.mu.Unlock()
	slices.Sort(hosts)
	sub.mark(hosts)
	return func() {
		s.allFeeds.mu.Lock()
		defer s.allFeeds.mu.Unlock()
		f.mu.Lock()
		delete(f.subs, sub)
		empty := len(f.subs) == 0
		f.mu.Unlock()
		if empty && s.allFeeds.m[key] == f {
			delete(s.allFeeds.m, key)
			close(f.stop)
		}
	}
}

func (f *allFeed) run() { everyTick(f.stop, f.interval, f.tick) }

// tick asks every host's answer and marks the hosts whose answer changed.
func (f *allFeed) tick() {
	var changed []string
	seen := map[string]bool{}
	for _, l := range f.s.cfg.Store.AllLatest() {
		if l.Kind != systemInfo {
			continue
		}
		host := l.Host
		seen[host] = true
		q := f.queries[host]
		if q == nil {
			v := cloneValues(f.values)
			v.Set("host", host)
			var err error
			if q, err = f.s.parseQuery(systemInfo, v); err != nil {
				continue
			}
			f.queries[host] = q
		}
		body, err := f.s.answer(q)
		if err != nil {
			continue
		}
		f.mu.Lock()
		prev := f.bodies[host]
		f.mu.Unlock()
		if sameBody(prev, body) {
			continue
		}
		msg := append(aggregators.AppendString([]byte{'{'}, f.s.displayName(host)), ':')
		msg = append(append(msg, body...), '}')
		fr, err := newFrame(msg)
		if err != nil {
			continue
		}
		f.mu.Lock()
		f.frames[host], f.bodies[host] = fr, body
		f.mu.Unlock()
		changed = append(changed, host)
	}
	f.mu.Lock()
	for host := range f.frames {
		if !seen[host] { // forgotten by the hub
			delete(f.frames, host)
			delete(f.bodies, host)
			delete(f.queries, host)
		}
	}
	subs := make([]*allSub, 0, len(f.subs))
	for sub := range f.subs {
		subs = append(subs, sub)
	}
	f.mu.Unlock()
	if len(changed) == 0 {
		return
	}
	for _, sub := range subs {
		sub.mark(changed)
	}
}

// sameBody is bytes.Equal, quick when both are the same slice (the latest
// sample's answer is the sample itself).
func sameBody(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return bytes.Equal(a, b)
}

// allFeeds is the registry of running all_system_info feeds.
type allFeeds struct {
	mu sync.Mutex
	m  map[string]*allFeed
	wg sync.WaitGroup
}

// stopAll ends every feed (their sockets are gone by then).
func (r *allFeeds) stopAll() {
	r.mu.Lock()
	for k, f := range r.m {
		close(f.stop)
		delete(r.m, k)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// serveAll serves GET /api/v1/metrics/all_system_info over WebSocket.
func (s *Server) serveAll(c *fws.Conn) {
	req := c.Locals(localRequest).(*socketRequest)
	if req.err != nil {
		s.refuse(c, req.err)
		return
	}
	k := s.newSocket(c, 0)
	k.run(func(k *socket) func() { return s.joinAll(k, req.values, req.interval) })
}
