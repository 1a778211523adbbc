package uptime

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
)

func TestMatchFoldIsAnOrderedSubsequence(t *testing.T) {
	for _, c := range []struct {
		kw, alias string
		want      bool
	}{
		{"adg", "adguard", true}, {"ADG", "AdGuard", true}, {"guard", "adguard-home", true},
		{"gdr", "adguard", false}, {"hg", "adguard-home", false}, {"", "x", true}, {"ü", "Über", true},
	} {
		if got := MatchFold(c.kw, c.alias); got != c.want {
			t.Errorf("MatchFold(%q, %q) = %v, want %v", c.kw, c.alias, got, c.want)
		}
	}
}

// TestRoutesGolden pins reference §4.3's shape: routes sorted by alias, one
// status per bucket in time order, ratios over known statuses, latency in
// ms, current_status the last.
func TestRoutesGolden(t *testing.T) {
	k := Kind()
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns(k.Counters...))
	d := aggregators.NewRings(aggregators.Periods[2])
	sample := func(ts int64, statuses string) {
		v, err := f.Flatten([]byte(fmt.Sprintf(`{"statuses":{%s},"timestamp":%d}`, statuses, ts)))
		if err != nil {
			t.Fatal(err)
		}
		v.Host, v.Kind = "h", Name
		if err := d.Add(v, time.Unix(2_000_000_000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	st := func(alias, status string, latencyNs int64) string {
		return fmt.Sprintf(`"%s":{"status":"%s","uptime":0,"latency":%d,"sleep_in":0}`, alias, status, latencyNs)
	}
	// 1h buckets are 36 s: 1755759600 and 1755759636.
	sample(1755759600, st("adguard", "unhealthy", 0)+","+st("zz-napper", "napping", 0))
	sample(1755759636, st("adguard", "healthy", 1_500_000)+","+st("zz-napper", "unknown", 0)+","+st("backup", "error", 2_000_000))
	data, err := k.Aggregate("routes", d.View("h", Name).Entries(), aggregators.Query{Values: url.Values{}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(data)
	// avg_latency is exact (1.5 ms and 0 ms), not GoDoxy's whole milliseconds.
	want := `[{"alias":"adguard","uptime":0.5,"downtime":0.5,"idle":0,"avg_latency":0.75,"current_status":"healthy",` +
		`"statuses":[{"status":"unhealthy","latency":0,"timestamp":1755759600},{"status":"healthy","latency":1,"timestamp":1755759636}]},` +
		`{"alias":"backup","uptime":0,"downtime":1,"idle":0,"avg_latency":2,"current_status":"error",` +
		`"statuses":[{"status":"error","latency":2,"timestamp":1755759636}]},` +
		`{"alias":"zz-napper","uptime":0,"downtime":0,"idle":1,"avg_latency":0,"current_status":"unknown",` +
		`"statuses":[{"status":"napping","latency":0,"timestamp":1755759600},{"status":"unknown","latency":0,"timestamp":1755759636}]}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	data, _ = k.Aggregate("routes", d.View("h", Name).Entries(), aggregators.Query{Values: url.Values{"keyword": {"ADG"}}})
	if len(data) != 1 || data[0].(RouteAggregate).Alias != "adguard" {
		t.Fatalf("keyword ADG: %v", data)
	}
	data, _ = k.Aggregate("routes", d.View("h", Name).Entries(), aggregators.Query{Values: url.Values{"keyword": {"gdr"}}})
	if len(data) != 0 {
		t.Fatalf("keyword gdr matched %v", data)
	}
}
