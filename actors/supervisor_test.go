package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = bustest.Quiet()

func TestPanickingActorRestartsWithExponentialBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := NewSupervisor(quiet, Backoff{Min: 100 * time.Millisecond, Max: time.Second, Decay: time.Minute})
		var starts []time.Duration
		begin := time.Now()
		ok := make(chan struct{})
		err := sup.Start(context.Background(), Spec{Name: "flaky", Actor: Func(func(ctx context.Context) error {
			starts = append(starts, time.Since(begin))
			if len(starts) <= 5 {
				panic(fmt.Sprintf("boom %d", len(starts)))
			}
			close(ok)
			<-ctx.Done()
			return nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		<-ok
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond}
		if !slices.Equal(starts, want) {
			t.Fatalf("starts at %v, want %v (100, 200, 400, 800 ms, then capped at 1 s)", starts, want)
		}
		st := sup.Statuses()[0]
		if st.State != StateRunning || st.Restarts != 5 || st.LastError != "panic: boom 5" || !sup.Healthy() {
			t.Fatalf("status %+v", st)
		}
		if err := sup.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFailureCountDecaysAfterALongRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := NewSupervisor(quiet, Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second, Decay: 10 * time.Second})
		var starts []time.Time
		runs := []time.Duration{0, 0, 0, time.Hour, 0} // fails fast 3 times, runs an hour, fails
		done := make(chan struct{})
		_ = sup.Start(context.Background(), Spec{Name: "a", Actor: Func(func(ctx context.Context) error {
			starts = append(starts, time.Now())
			if len(starts) > len(runs) {
				close(done)
				<-ctx.Done()
				return nil
			}
			time.Sleep(runs[len(starts)-1])
			return errors.New("failed")
		})})
		<-done
		// After an hour of running, the next restart waits the minimum again.
		defer sup.Stop(context.Background())
		if gap := starts[4].Sub(starts[3]); gap != time.Hour+100*time.Millisecond {
			t.Fatalf("restart after a run of an hour came %s later, want 1h0m0.1s", gap)
		}
		if gap := starts[3].Sub(starts[2]); gap != 400*time.Millisecond {
			t.Fatalf("third restart waited %s, want 400ms", gap)
		}
	})
}

func TestDoNotRestartAndFinishedActors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := NewSupervisor(quiet, DefaultBackoff)
		_ = sup.Start(context.Background(), Spec{Name: "fatal", Actor: Func(func(context.Context) error {
			return fmt.Errorf("bad config: %w", ErrDoNotRestart)
		})})
		_ = sup.Start(context.Background(), Spec{Name: "done", Actor: Func(func(context.Context) error { return nil })})
		synctest.Wait()
		st := sup.Statuses()
		if st[0].State != StateFailed || st[0].Restarts != 0 || st[1].State != StateStopped || sup.Healthy() {
			t.Fatalf("statuses %+v", st)
		}
		_ = sup.Stop(context.Background())
	})
}

func TestStopGoesStageByStage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := NewSupervisor(quiet, DefaultBackoff)
		var mu sync.Mutex
		var order []string
		actor := func(name string, linger time.Duration) Actor {
			return Func(func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(linger) // draining takes a while
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			})
		}
		// Started in a scrambled order; stopped by stage.
		for _, s := range []Spec{
			{"bus", StageBus, actor("bus", 0)},
			{"api", StageAPI, actor("api", 0)},
			{"poller", StagePoller, actor("poller", 0)},
			{"ds-1h", StageDownsampler, actor("ds-1h", 300*time.Millisecond)},
			{"persistence", StagePersistence, actor("persistence", 0)},
			{"ds-5m", StageDownsampler, actor("ds-5m", 100*time.Millisecond)},
			{"ingest", StageIngest, actor("ingest", 0)},
		} {
			_ = sup.Start(context.Background(), s)
		}
		synctest.Wait()
		if err := sup.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{"poller", "ingest", "ds-5m", "ds-1h", "persistence", "api", "bus"}
		if !slices.Equal(order, want) {
			t.Fatalf("stop order %v, want %v", order, want)
		}
		if err := sup.Start(context.Background(), Spec{Name: "late", Actor: actor("late", 0)}); err == nil {
			t.Fatal("started an actor after Stop")
		}
	})
}

func TestStopReportsActorsThatOutliveTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := NewSupervisor(quiet, DefaultBackoff)
		release := make(chan struct{})
		_ = sup.Start(context.Background(), Spec{Name: "stubborn", Actor: Func(func(context.Context) error {
			<-release
			return nil
		})})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := sup.Stop(ctx)
		if err == nil || !strings.Contains(err.Error(), "stubborn") {
			t.Fatalf("Stop = %v, want it to name the stubborn actor", err)
		}
		close(release)
		synctest.Wait()
	})
}

func TestMailboxDropsNewestWhenFull(t *testing.T) {
	m := NewMailbox[int]("m", 2)
	for i := range 5 {
		m.Offer(i)
	}
	if m.Len() != 2 || m.Dropped() != 3 {
		t.Fatalf("len %d dropped %d, want 2 and 3", m.Len(), m.Dropped())
	}
	if a, b := <-m.C(), <-m.C(); a != 0 || b != 1 {
		t.Fatalf("kept %d %d, want the oldest 0 1", a, b)
	}
}
