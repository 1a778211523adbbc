package uptime

import (
	"context"
	"hash/fnv"
	"log/slog"
	"sort"
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
	Checker       *Checker
	MaxConcurrent int // default 64
	Log           *slog.Logger

	reload chan []Route
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

type due struct {
	alias string
	at    time.Time
}

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
	next := map[string]time.Time{}
	running := map[string]bool{}
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
			if now.Sub(t) < RemovedGrace {
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
			if _, ok := next[r.Alias]; !ok || routes[r.Alias].Interval != r.Interval {
				next[r.Alias] = now.Add(offset(r.Alias, time.Duration(r.Interval)))
			}
		}
		for a := range routes {
			if _, ok := fresh[a]; !ok {
				st.removed[a] = now
				delete(next, a)
			}
		}
		routes = fresh
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
		// Launch what is due; find the next wake-up.
		wake := now.Add(time.Hour)
		var dueNow []due
		for a, t := range next {
			if r := routes[a]; r.Paused || running[a] {
				continue
			}
			if !t.After(now) {
				dueNow = append(dueNow, due{a, t})
			} else if t.Before(wake) {
				wake = t
			}
		}
		sort.Slice(dueNow, func(i, j int) bool { return dueNow[i].at.Before(dueNow[j].at) })
		for _, d := range dueNow {
			r := routes[d.alias]
			select {
			case sem <- struct{}{}:
			default:
				// All slots busy: try again as soon as one frees up.
				continue
			}
			running[d.alias] = true
			iv := time.Duration(r.Interval)
			n := d.at.Add(iv)
			if n.Before(now) { // fell behind: do not catch up with a burst
				n = now.Add(iv)
			}
			next[d.alias] = n
			if n.Before(wake) {
				wake = n
			}
			wg.Go(func() {
				defer func() { <-sem }()
				results <- outcome{alias: d.alias, route: r, res: m.Checker.Check(cctx, r)}
			})
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			cancel()
			go func() { wg.Wait(); close(results) }()
			for range results {
			}
			m.Checker.Close()
			return nil
		case rs := <-m.reload:
			apply(rs, time.Now())
		case o := <-results:
			running[o.alias] = false
			m.checks.Add(1)
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
