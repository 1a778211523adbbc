package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// TestHubEndToEnd is the first experience of a new user, in the real hub
// and within 5 s: the latest sample is served within 2 s; every period has a
// point; a NATS client on --nats-addr (a declared reader) gets raw samples and a closed 5m
// bucket, each with the schema header. The cadence of the buckets over a
// longer time is TestTenSecondsOfSamples's, on fake time.
func TestHubEndToEnd(t *testing.T) {
	s := testSettings(t, t.TempDir())
	s.NATSAddr = "127.0.0.1:0"
	seed, reader := nkeyFor(t, t.TempDir(), "test-subscriber")
	s.Identities = []bus.Identity{{Reader: "test-subscriber", Nkey: reader}}
	s.PollInterval = 200 * time.Millisecond
	ks, err := kinds(s)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h, _ := startTestHub(t, s, ks)
	base := "http://" + h.api.Addr()

	nc, err := nats.Connect("nats://"+h.bus.Addr(), nats.Name("test-subscriber"), seedOpt(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var raw, agg []*nats.Msg
	for _, subj := range []string{"ringwatch.raw.>", "ringwatch.agg.>"} { // what a reader may read
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) {
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
	}
	_ = nc.Flush()

	bustest.Eventually(t, time.Until(start.Add(2*time.Second)), func() error {
		code, body := httpGet(t, base+"/api/v1/metrics/system_info")
		if code != 200 || !strings.Contains(body, `"cpu_average"`) {
			return fmt.Errorf("latest sample: %d %s", code, body)
		}
		return nil
	})
	for _, per := range []string{"5m", "15m", "1h", "1d", "1mo"} {
		p, err := getPage(t, base+"/api/v1/metrics/system_info?period="+per+"&aggregate=cpu_average")
		if err != nil || p.Total < 1 {
			t.Fatalf("period %s: %+v %v", per, p, err)
		}
	}
	bustest.Eventually(t, time.Until(start.Add(5*time.Second)), func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(raw) < 3 {
			return fmt.Errorf("%d raw samples, want one every 200 ms", len(raw))
		}
		for _, m := range agg {
			if m.Subject == "ringwatch.agg.testhost.system_info.5m" && m.Header.Get(bus.SchemaHeader) == "1" &&
				strings.Contains(string(m.Data), `"interval":3,`) {
				return nil
			}
		}
		return fmt.Errorf("no closed 5m bucket yet; %d agg messages", len(agg))
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range raw {
		if m.Subject != "ringwatch.raw.testhost.system_info" || m.Header.Get(bus.SchemaHeader) != "1" || !strings.HasPrefix(string(m.Data), `{"timestamp":`) {
			t.Fatalf("raw message %s %v %.60s", m.Subject, m.Header, m.Data)
		}
	}
}
