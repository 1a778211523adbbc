package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
)

// TestHubEndToEnd is the first experience of a new user: within 5 s the latest
// sample is served; by 10 s the 5m period has at least 3 points and every other
// period at least 1; a NATS client on --nats-addr gets a raw sample a second and
// a closed 5m bucket every 3 s, each with the schema header.
func TestHubEndToEnd(t *testing.T) {
	s := testSettings(t, t.TempDir())
	s.NATSAddr = "127.0.0.1:0"
	ks, err := kinds(s)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h, _ := startTestHub(t, s, ks)
	base := "http://" + h.api.Addr()

	nc, err := nats.Connect("nats://"+h.bus.Addr(), nats.Name("test-subscriber"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var raw, agg []*nats.Msg
	if _, err := nc.Subscribe("ringwatch.>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(m.Subject, "ringwatch.raw.") {
			raw = append(raw, m)
		} else {
			agg = append(agg, m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()

	eventually(t, start.Add(5*time.Second), func() error {
		code, body := httpGet(t, base+"/api/v1/metrics/system_info")
		if code != 200 || !strings.Contains(body, `"cpu_average"`) {
			return fmt.Errorf("latest sample: %d %s", code, body)
		}
		return nil
	})
	eventually(t, start.Add(10*time.Second), func() error {
		for _, per := range []string{"5m", "15m", "1h", "1d", "1mo"} {
			p, err := getPage(t, base+"/api/v1/metrics/system_info?period="+per+"&aggregate=cpu_average")
			if err != nil {
				return err
			}
			want := 1
			if per == "5m" {
				want = 3
			}
			if p.Total < want {
				return fmt.Errorf("period %s has %d points, want at least %d", per, p.Total, want)
			}
		}
		return nil
	})
	// Keep the bus flowing until 10 s have passed, then count.
	eventually(t, start.Add(11*time.Second), func() error {
		if time.Since(start) < 10*time.Second {
			return fmt.Errorf("waiting for 10 s of traffic")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(raw) < 8 || len(raw) > 11 {
		t.Fatalf("%d raw samples in 10 s, want about 10", len(raw))
	}
	for _, m := range raw {
		if m.Subject != "ringwatch.raw.testhost.system_info" || m.Header.Get(bus.SchemaHeader) != "1" || !strings.HasPrefix(string(m.Data), `{"timestamp":`) {
			t.Fatalf("raw message %s %v %.60s", m.Subject, m.Header, m.Data)
		}
	}
	var starts []string
	for _, m := range agg {
		if m.Subject == "ringwatch.agg.testhost.system_info.5m" && m.Header.Get(bus.SchemaHeader) == "1" {
			starts = append(starts, between(string(m.Data), `"start":`, `,`))
		}
	}
	if len(starts) < 2 {
		t.Fatalf("%d closed 5m buckets in 10 s, want one every 3 s", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		var a, b int64
		fmt.Sscan(starts[i-1], &a)
		fmt.Sscan(starts[i], &b)
		if b-a != 3 {
			t.Fatalf("closed bucket starts %v are not 3 s apart", starts)
		}
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}
