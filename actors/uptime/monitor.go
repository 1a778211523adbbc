package uptime

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
)

// Monitor is the actor that checks routes, each on its own schedule: first
// checks are spread over the interval (by a hash of the alias), a route is
// never checked twice at once, and at most MaxConcurrent checks run together.
// It is also the uptime kind's Source: every poll it reports the current
// status of every route as one StatusByAlias sample.
type Monitor struct {
	Checker       Checker       // NewMonitor sets a NetChecker
	MaxConcurrent int           // default 64
	RemovedFor    time.Duration // how long a removed route is reported unknown (default RemovedGrace)
	Log           *slog.Logger

	reload  chan []Route
	initial atomic.Pointer[[]Route]
	state   atomic.Pointer[snapshot] // immutable; replaced on every change
	checks  atomic.Uint64
}

type routeState struct {
	route  Route
	last   Result
	since  time.Time // when the current status began
	checks uint64
}

type snapshot struct {
	routes  map[string]routeState
	removed map[string]time.Time // alias -> when it was removed
}

// RemovedGrace is how long a removed route is still reported, as unknown.
const RemovedGrace = 10 * time.Minute

func (m *Monitor) removedFor() time.Duration {
	if m.RemovedFor > 0 {
		return m.RemovedFor
	}
	return RemovedGrace
}

// NewMonitor checks routes, which must have passed Validate.
func NewMonitor(routes []Route, log *slog.Logger) *Monitor {
	m := &Monitor{Checker: NewChecker(), Log: log, reload: make(chan []Route, 1)}
	m.initial.Store(&routes)
	m.state.Store(&snapshot{routes: map[string]routeState{}, removed: map[string]time.Time{}})
	return m
}

// Reload replaces the routes (validated) without a restart; routes whose
// alias stays keep their history and schedule.
func (m *Monitor) Reload(routes []Route) {
	select {
	case <-m.reload: // an unapplied reload is superseded
	default:
	}
	m.reload <- routes
	m.initial.Store(&routes)
}

// Checks is how many checks have completed.
func (m *Monitor) Checks() uint64 { return m.checks.Load() }

type outcome struct {
	alias string
	route Route
	res   Result
}

func offset(alias string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(alias))
	return time.Duration(h.Sum64() % uint64(interval))
}

// Run schedules checks until ctx is done, then waits for those in flight.
//
// Each route not running and not paused has one due time, kept in a min-heap
// (stale heap entries are skipped), so a wake-up costs O(log n) however many
// routes there are.
func (m *Monitor) Run(ctx context.Context) error {
	limit := m.MaxConcurrent
	if limit <= 0 {
		limit = 64
	}
	sem := make(chan struct{}, limit)
	results := make(chan outcome, limit)
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	routes := map[string]Route{}
	var gridStep time.Duration
	dueAt := map[string]time.Time{}  // routes waiting for their next check
	nextAt := map[string]time.Time{} // running routes: when to check again
	var queue schedule
	setDue := func(alias string, at time.Time) {
		dueAt[alias] = at
		heap.Push(&queue, slot{alias: alias, at: at})
	}
	cur := m.state.Load() // owned here; published as a copy
	dirty := false
	publish := func() {
		st := &snapshot{routes: make(map[string]routeState, len(cur.routes)), removed: cur.removed}
		for a, s := range cur.routes {
			st.routes[a] = s
		}
		m.state.Store(st)
		dirty = false
	}
	apply := func(rs []Route, now time.Time) {
		old := cur
		st := &snapshot{routes: map[string]routeState{}, removed: map[string]time.Time{}}
		for a, t := range old.removed {
			if now.Sub(t) < m.removedFor() {
				st.removed[a] = t
			}
		}
		fresh := map[string]Route{}
		for _, r := range rs {
			fresh[r.Alias] = r
			prev, had := old.routes[r.Alias]
			s := routeState{route: r, since: now, last: Result{Status: Starting, At: now}}
			if had {
				s.last, s.since, s.checks = prev.last, prev.since, prev.checks
			}
			if r.Paused {
				s.last = Result{Status: Napping, At: now}
				if !had || prev.last.Status != Napping {
					s.since = now
				}
			} else if had && prev.last.Status == Napping {
				s.last, s.since = Result{Status: Starting, At: now}, now
			}
			st.routes[r.Alias] = s
			delete(st.removed, r.Alias)
			was, existed := routes[r.Alias]
			_, running := nextAt[r.Alias]
			switch {
			case r.Paused:
				delete(dueAt, r.Alias)
			case running:
				nextAt[r.Alias] = now.Add(offset(r.Alias, time.Duration(r.Interval)))
			case !existed || was.Paused || was.Interval != r.Interval || was.URL != r.URL:
				setDue(r.Alias, now.Add(offset(r.Alias, time.Duration(r.Interval))))
			}
		}
		for a := range routes {
			if _, ok := fresh[a]; !ok {
				st.removed[a] = now
				delete(dueAt, a)
			}
		}
		routes = fresh
		gridStep = grain(routes)
		cur = st
		publish()
	}
	apply(*m.initial.Load(), time.Now())

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Results are published at most every 100 ms: a poll (1 s) never sees
	// older data than that, and a thousand routes do not copy the table per
	// check. The timer is armed only when there is something to publish.
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	armed := false
	for {
		now := time.Now()
		for queue.Len() > 0 && !queue[0].at.After(now) && len(sem) < cap(sem) {
			sl := heap.Pop(&queue).(slot)
			if at, ok := dueAt[sl.alias]; !ok || !at.Equal(sl.at) {
				continue // superseded by a reload
			}
			delete(dueAt, sl.alias)
			r := routes[sl.alias]
			iv := time.Duration(r.Interval)
			n := sl.at.Add(iv)
			if n.Before(now) { // fell behind: do not catch up with a burst
				n = now.Add(iv)
			}
			nextAt[sl.alias] = n
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results <- outcome{alias: sl.alias, route: r, res: m.Checker.Check(cctx, r)}
			})
		}
		wake := time.Hour
		if queue.Len() > 0 && len(sem) < cap(sem) {
			// Wake on a coarse grid, so that checks due close together start
			// in one wake-up: a thousand routes cost far fewer thread
			// wake-ups, and no check starts more than grain late.
			at := queue[0].at
			if gridStep > 0 {
				at = at.Truncate(gridStep).Add(gridStep)
			}
			wake = time.Until(at)
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			cancel()
			go func() { wg.Wait(); close(results) }()
			for range results {
			}
			if c, ok := m.Checker.(interface{ Close() }); ok {
				c.Close() // idle keep-alive connections
			}
			return nil
		case rs := <-m.reload:
			apply(rs, time.Now())
		case o := <-results:
			m.checks.Add(1)
			n := nextAt[o.alias]
			delete(nextAt, o.alias)
			if r, ok := routes[o.alias]; ok && !r.Paused {
				setDue(o.alias, n)
			}
			dirty = record(cur, o, routes) || dirty
			if dirty && !armed {
				flush.Reset(100 * time.Millisecond)
				armed = true
			}
		case <-flush.C:
			armed = false
			if dirty {
				publish()
			}
		case <-timer.C:
		}
	}
}

// grain is the wake-up grid: 50 ms, or a tenth of the shortest interval.
func grain(routes map[string]Route) time.Duration {
	g := 50 * time.Millisecond
	for _, r := range routes {
		g = min(g, time.Duration(r.Interval)/10)
	}
	return g
}

// slot is one due check in the schedule.
type slot struct {
	alias string
	at    time.Time
}

// schedule is a min-heap of slots by due time.
type schedule []slot

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].at.Before(s[j].at) }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)        { *s = append(*s, x.(slot)) }
func (s *schedule) Pop() any {
	old := *s
	x := old[len(old)-1]
	*s = old[:len(old)-1]
	return x
}

// record stores a finished check in st, unless its route changed meanwhile.
func record(st *snapshot, o outcome, routes map[string]Route) bool {
	if r, ok := routes[o.alias]; !ok || r.Paused || r.URL != o.route.URL {
		return false
	}
	s := st.routes[o.alias]
	if s.last.Status != o.res.Status {
		s.since = o.res.At
	}
	s.last = o.res
	s.checks++
	st.routes[o.alias] = s
	return true
}

var _ actors.Actor = (*Monitor)(nil)
