package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// A new kind is three small pieces: a sample type, a poll function and its
// aggregate modes. This test defines one and gets it through the bus, the
// downsamplers, the snapshots and the API without touching them.

type toySample struct {
	Timestamp int64   `json:"timestamp"`
	Value     float64 `json:"value"`
	Total     uint64  `json:"total"` // a counter
}

type toySource struct{ n int }

func (s *toySource) Poll(context.Context, actors.Reporter) (any, error) {
	s.n++
	return toySample{Timestamp: time.Now().Unix(), Value: float64(s.n), Total: uint64(100 * s.n)}, nil
}

var toyKind = aggregators.Kind{
	Name:     "toy",
	Counters: []string{"total"},
	Modes: map[string]aggregators.Mode{
		"value": func(es []aggregators.Entry, q aggregators.Query) ([]any, error) {
			out := make([]any, 0, len(es))
			for _, e := range es {
				if v, ok := e.Value(q.Stat, "value"); ok {
					out = append(out, map[string]any{"timestamp": e.Time(), "value": v})
				}
			}
			return out, nil
		},
	},
}

func TestToyKindGoesThroughEverything(t *testing.T) {
	dir := t.TempDir()
	s := testSettings(t, dir)
	s.NATSAddr, s.NATSInsecure = "127.0.0.1:0", true
	s.PollInterval = 200 * time.Millisecond
	h, _ := startTestHub(t, s, []kind{{agg: toyKind, source: &toySource{}}})
	base := "http://" + h.api.Addr()

	nc, err := nats.Connect("nats://" + h.bus.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	_, _ = nc.Subscribe("ringwatch.>", func(m *nats.Msg) {
		mu.Lock()
		seen[m.Subject]++
		mu.Unlock()
	})
	_ = nc.Flush()
	bustest.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if seen["ringwatch.raw.testhost.toy"] == 0 || seen["ringwatch.agg.testhost.toy.5m"] == 0 {
			return fmt.Errorf("bus traffic so far: %v", seen)
		}
		return nil
	})
	code, body := httpGet(t, base+"/api/v1/metrics/toy")
	if code != 200 || !strings.HasPrefix(body, `{"timestamp":`) || !strings.Contains(body, `"total":`) {
		t.Fatalf("latest toy sample: %d %s", code, body)
	}
	// One 1d point, or two when the test crosses the boundary of a 1d
	// bucket (every 864 s).
	var before page
	bustest.Eventually(t, 5*time.Second, func() error {
		var err error
		before, err = getPage(t, base+"/api/v1/metrics/toy?period=1d&aggregate=value")
		if err == nil && (before.Total < 1 || before.Total > 2) {
			err = fmt.Errorf("1d points: %d", before.Total)
		}
		return err
	})
	if err := h.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "metrics", "testhost", "toy.json.gz")); err != nil {
		t.Fatalf("no toy snapshot: %v", err)
	}

	// A second hub that never polls serves what the first one saved.
	s.PollInterval = time.Hour
	h2, _ := startTestHub(t, s, []kind{{agg: toyKind, source: &toySource{}}})
	after, err := getPage(t, "http://"+h2.api.Addr()+"/api/v1/metrics/toy?period=1d&aggregate=value")
	if err != nil || after.Total < before.Total || after.Total > 2 || after.Data[0]["timestamp"] != before.Data[0]["timestamp"] {
		t.Fatalf("after restart %+v %v; before %+v", after, err, before)
	}
}

func TestCorruptStateFileStillStarts(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics")
	for host, content := range map[string]string{"testhost": "garbage{", "other": `{"entries":{"5m":{"entries":[{"timestamp":1795000000,"value":7}]}}}`} {
		_ = os.MkdirAll(filepath.Join(metrics, host), 0o755)
		_ = os.WriteFile(filepath.Join(metrics, host, "toy.json"), []byte(content), 0o644)
	}
	s := testSettings(t, dir)
	s.PollInterval = 100 * time.Millisecond
	h, logs := startTestHub(t, s, []kind{{agg: toyKind, source: &toySource{}}})
	base := "http://" + h.api.Addr()
	p, err := getPage(t, base+"/api/v1/metrics/toy?period=5m&aggregate=value&host=other")
	if err != nil || p.Total != 1 || p.Data[0]["value"] != 7.0 {
		t.Fatalf("the good file beside the bad one: %+v %v", p, err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if code, body := httpGet(t, base+"/api/v1/metrics/toy"); code != 200 {
			return fmt.Errorf("own host after a corrupt file: %d %s", code, body)
		}
		return nil
	})
	if n := strings.Count(logs.String(), "set aside as"); n != 1 {
		t.Fatalf("%d set-aside log lines, want 1:\n%s", n, logs)
	}
}
