package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stage orders shutdown: Stop stops every actor of the lowest stage first and
// waits for them before it moves on to the next.
type Stage int

// The stages of ringwatch's pipeline, in stop order.
const (
	StagePoller Stage = iota
	StageIngest
	StageDownsampler
	StagePersistence
	StageAPI
	StageBus
)

// State is what the supervisor knows about one actor.
type State int32

// Actor states.
const (
	StateStarting   State = iota // added, not yet running
	StateRunning                 // Run is executing
	StateRestarting              // failed; waiting out its back-off
	StateStopped                 // returned after Stop, or returned nil on its own
	StateFailed                  // returned ErrDoNotRestart
)

var stateNames = [...]string{"starting", "running", "restarting", "stopped", "failed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// MarshalText makes states readable in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown actor state %q", b)
}

// Backoff is the supervisor's restart policy: the n-th consecutive failure waits
// Min·2^(n-1), at most Max. The failure count halves for every Decay an actor
// runs without failing, so an actor that failed once long ago restarts fast.
type Backoff struct {
	Min, Max, Decay time.Duration
}

// DefaultBackoff restarts after 100 ms, 200 ms, ... up to 30 s.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 30 * time.Second, Decay: 30 * time.Second}

// Spec names an actor and its place in the stop order.
type Spec struct {
	Name  string
	Stage Stage
	Actor Actor
}

// Status is one actor's entry in a supervisor report.
type Status struct {
	Name      string `json:"name"`
	State     State  `json:"state"`
	Restarts  int64  `json:"restarts"`
	LastError string `json:"last_error,omitempty"`
}

// Supervisor starts, restarts and stops actors. Its methods are safe for
// concurrent use.
type Supervisor struct {
	log     *slog.Logger
	backoff Backoff

	mu      sync.Mutex
	entries []*entry
	stopped bool
}

type entry struct {
	spec     Spec
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	state    atomic.Int32
	restarts atomic.Int64
	lastErr  atomic.Pointer[string]
}

// NewSupervisor returns a supervisor that logs to log and restarts with b.
func NewSupervisor(log *slog.Logger, b Backoff) *Supervisor {
	if b.Min <= 0 {
		b = DefaultBackoff
	}
	return &Supervisor{log: log, backoff: b}
}

// Start runs spec's actor in its own goroutine until Stop. The actor's context
// carries ctx's values but is cancelled only by Stop, so stages stop in order.
func (s *Supervisor) Start(ctx context.Context, spec Spec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("supervisor: cannot start %s: stopping", spec.Name)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &entry{spec: spec, ctx: actx, cancel: cancel, done: make(chan struct{})}
	s.entries = append(s.entries, e)
	go s.supervise(e)
	return nil
}

func (s *Supervisor) supervise(e *entry) {
	defer close(e.done)
	log := s.log.With("actor", e.spec.Name)
	var failures float64
	for {
		e.state.Store(int32(StateRunning))
		began := time.Now()
		err := runProtected(e.ctx, e.spec.Actor)
		if e.ctx.Err() != nil {
			e.state.Store(int32(StateStopped))
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("actor returned an error while stopping", "err", err)
			}
			return
		}
		if err == nil {
			log.Warn("actor finished on its own; not restarting")
			e.state.Store(int32(StateStopped))
			return
		}
		msg := err.Error()
		e.lastErr.Store(&msg)
		var pe *PanicError
		if errors.As(err, &pe) {
			log.Error("actor panicked", "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		}
		if errors.Is(err, ErrDoNotRestart) {
			log.Error("actor failed; not restarting", "err", err)
			e.state.Store(int32(StateFailed))
			return
		}
		failures = s.decayed(failures, time.Since(began)) + 1
		delay := s.delay(failures)
		e.restarts.Add(1)
		e.state.Store(int32(StateRestarting))
		log.Error("actor failed; restarting", "err", err, "in", delay, "restarts", e.restarts.Load())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
			e.state.Store(int32(StateStopped))
			return
		}
	}
}

// decayed halves failures for every Decay the actor ran without failing.
func (s *Supervisor) decayed(failures float64, ran time.Duration) float64 {
	if s.backoff.Decay <= 0 || failures == 0 {
		return failures
	}
	return failures * math.Pow(0.5, float64(ran)/float64(s.backoff.Decay))
}

func (s *Supervisor) delay(failures float64) time.Duration {
	n := math.Max(failures-1, 0)
	d := time.Duration(float64(s.backoff.Min) * math.Pow(2, n))
	if d > s.backoff.Max || d <= 0 {
		d = s.backoff.Max
	}
	return d
}

// Statuses reports every actor, in start order.
func (s *Supervisor) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.entries))
	for _, e := range s.entries {
		st := Status{Name: e.spec.Name, State: State(e.state.Load()), Restarts: e.restarts.Load()}
		if p := e.lastErr.Load(); p != nil {
			st.LastError = *p
		}
		out = append(out, st)
	}
	return out
}

// Healthy reports whether every actor is running.
func (s *Supervisor) Healthy() bool {
	for _, st := range s.Statuses() {
		if st.State != StateRunning {
			return false
		}
	}
	return true
}

// Stop cancels the actors stage by stage, lowest first, waiting for each stage
// to return before the next is cancelled. It gives up on a stage when ctx ends
// and reports the actors that did not stop.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	byStage := map[Stage][]*entry{}
	var stages []Stage
	for _, e := range s.entries {
		if _, ok := byStage[e.spec.Stage]; !ok {
			stages = append(stages, e.spec.Stage)
		}
		byStage[e.spec.Stage] = append(byStage[e.spec.Stage], e)
	}
	s.mu.Unlock()
	sort.Slice(stages, func(i, j int) bool { return stages[i] < stages[j] })

	var stuck []string
	for _, st := range stages {
		for _, e := range byStage[st] {
			e.cancel()
		}
		for _, e := range byStage[st] {
			select {
			case <-e.done:
			case <-ctx.Done():
				stuck = append(stuck, e.spec.Name)
			}
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("supervisor: actors did not stop in time: %v", stuck)
	}
	return nil
}
