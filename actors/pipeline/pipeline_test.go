package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// toySource is a kind whose sample counts polls.
type toySource struct{ n int }

func (s *toySource) Poll(context.Context, actors.Reporter) (any, error) {
	s.n++
	return map[string]any{"timestamp": time.Now().Unix(), "n": s.n}, nil
}

// ingestDirectly publishes raw samples into the running shards without a bus.
type ingestDirectly struct{ p *pipeline.Pipeline }

func (d ingestDirectly) Publish(subject string, data []byte) error {
	return d.p.Offer(subject, data, nil)
}

// closedBuckets records what the downsamplers publish.
type closedBuckets struct {
	mu   sync.Mutex
	subj []string
	msgs []string
}

func (c *closedBuckets) Publish(subject string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subj = append(c.subj, subject)
	c.msgs = append(c.msgs, string(data))
	return nil
}

// TestTenSecondsOfSamples is a new hub's first ten seconds, on fake time: a
// sample a second fills four 5m buckets (3 s), two 15m buckets (9 s) and one
// of every other period, and a closed 5m bucket goes out every 3 s, aligned
// to the wall clock.
func TestTenSecondsOfSamples(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aggs := &closedBuckets{}
		p := pipeline.New([]aggregators.Kind{{Name: "toy"}}, nil, aggs, quiet)
		sup := actors.NewSupervisor(quiet, actors.DefaultBackoff)
		defer sup.Stop(context.Background())
		poller := &actors.Poller{Name: "toy", Subject: bus.Raw("h1", "toy"), Interval: time.Second,
			Source: &toySource{}, Pub: ingestDirectly{p}, Log: quiet}
		for _, sp := range append(p.Specs(), actors.Spec{Name: "poller", Stage: actors.StagePoller, Actor: poller}) {
			if err := sup.Start(context.Background(), sp); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now().Unix() // synctest's clock: 2000-01-01, a multiple of 3 s
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if st := poller.Stats(); st.Polls != 10 || st.Errors != 0 {
			t.Fatalf("poller %+v, want 10 polls without error", st)
		}
		for _, per := range aggregators.Periods {
			// Samples at 1..10 s: 5m buckets 0, 3, 6, 9; 15m buckets 0, 9.
			want := map[string]int{"5m": 4, "15m": 2}[per.Name]
			if want == 0 {
				want = 1
			}
			if v := p.View(per, "h1", "toy"); v == nil || v.Len() != want {
				t.Errorf("%s: %v, want %d buckets", per.Name, v, want)
			}
		}
		aggs.mu.Lock()
		defer aggs.mu.Unlock()
		var starts []string
		for i, s := range aggs.subj {
			if s == "ringwatch.agg.h1.toy.5m" {
				starts = append(starts, strings.Split(strings.Split(aggs.msgs[i], `"start":`)[1], ",")[0])
			}
		}
		if want := fmt.Sprint([]int64{start, start + 3, start + 6}); fmt.Sprint(starts) != want {
			t.Fatalf("closed 5m buckets start at %v, want %s", starts, want)
		}
	})
}
