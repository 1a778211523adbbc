// Package uptime is the uptime kind: the configured routes (routes.go),
// their checks (check.go), the Monitor actor that schedules the checks and is
// the kind's Source (monitor.go, sample.go), and the aggregation of route
// health into per-route availability over a period (this file).
//
// A sample is GoDoxy's StatusByAlias, {"statuses": {"<alias>": {"status":
// "healthy", "uptime": ns, "latency": ns, "sleep_in": ns, ...}}, "timestamp":
// <unix s>}, with ringwatch's additions per route (see RouteStatus). Samples
// from agents, or from GoDoxy files, aggregate the same way.
//
// The Monitor's Run owns the schedule and the result table; Poll, on the
// poller's goroutine, reads the table's latest immutable copy. The checks
// themselves go through a Checker: NetChecker over the network, or a fake
// one in tests that run on fake time.
package uptime

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ringwatch/ringwatch/aggregators"
)

// Name is the kind's name on the bus and in the API.
const Name = "uptime"

// Statuses a route can report.
const (
	Unknown   = "unknown"
	Healthy   = "healthy"
	Napping   = "napping"
	Starting  = "starting"
	Unhealthy = "unhealthy"
	Error     = "error"
)

// Kind is uptime's aggregation side. Its one mode, "routes", is the default:
// uptime queries name no aggregate.
func Kind() aggregators.Kind {
	return aggregators.Kind{
		Name:     Name,
		Counters: []string{"statuses.*.uptime", "statuses.*.checks", "statuses.*.cert_expiry"},
		Modes:    map[string]aggregators.Mode{"routes": Routes},
		Default:  "routes",
		// About 15 series per route: room for 4000 routes in the periods
		// (more are served as the latest sample, and counted as dropped
		// from the periods).
		MaxSeries: 1 << 16,
		Merge:     MergeParts,
		// With no routes nothing is published; GoDoxy's web UI expects
		// empty statuses, not null.
		Empty:    func(now time.Time) []byte { return fmt.Appendf(nil, `{"statuses":{},"timestamp":%d}`, now.Unix()) },
		Imported: markImported,
	}
}

// Status is one point of a route's history.
type Status struct {
	Status    string `json:"status"`
	Latency   int32  `json:"latency"`   // milliseconds
	Timestamp int64  `json:"timestamp"` // bucket start, Unix seconds
}

// RouteAggregate is one route over a period (reference §4.3).
type RouteAggregate struct {
	Alias         string   `json:"alias"`
	Uptime        float32  `json:"uptime"`
	Downtime      float32  `json:"downtime"`
	Idle          float32  `json:"idle"`
	AvgLatency    float32  `json:"avg_latency"`
	CurrentStatus string   `json:"current_status"`
	Statuses      []Status `json:"statuses"`
}

// Routes aggregates a period's buckets per route alias: routes sorted by
// alias and filtered by the "keyword" query value (a case-insensitive,
// in-order subsequence: "adg" matches "adguard"); one status per bucket (the
// route's last status in it); uptime, downtime and idle as fractions from 0
// to 1 of every sample whose status was known, counted from the samples'
// per-status counts (a bucket without them, as in GoDoxy's files, counts
// once, with its last status); the average latency in ms; the last bucket's
// status as current_status.
func Routes(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
	keyword := q.Values.Get("keyword")
	tallies := map[string]*tally{}
	weight := importedWeight(entries, q.Interval)
	for _, e := range entries {
		sts := e.Layout.Lookup("statuses")
		if !e.Has(sts) {
			continue
		}
		for _, route := range sts.Children() {
			raw := e.Lit(route.Child("status"))
			if !e.Has(route) || raw == nil {
				continue
			}
			status, err := strconv.Unquote(string(raw))
			if err != nil {
				status = Unknown
			}
			t := tallies[route.Key]
			if t == nil {
				t = &tally{}
				tallies[route.Key] = t
			}
			lat, _ := e.Get(route.Child("latency"), q.Stat)
			ms := math.Min(math.Floor(lat/1e6), math.MaxInt32)
			t.hist = append(t.hist, Status{Status: status, Latency: int32(max(ms, 0)), Timestamp: e.Start})
			t.add(e, route, status, lat/1e6, weight)
		}
	}
	aliases := make([]string, 0, len(tallies))
	for a := range tallies {
		if keyword == "" || MatchFold(keyword, a) {
			aliases = append(aliases, a)
		}
	}
	sort.Strings(aliases)
	out := make([]any, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, tallies[a].aggregate(a))
	}
	return out, nil
}

// tally counts one route's samples by status over a period.
type tally struct {
	hist                  []Status
	up, down, idle, known float64
	latencySum            float64 // ms, weighted by known samples
}

// markImported gives every route of an imported GoDoxy entry the count
// imported_<status>: 1, so that the entry keeps its status in a bucket that
// live samples join, and is weighted by the time it stands for
// (importedWeight). An entry it cannot read is left as it is.
func markImported(entry []byte) []byte {
	var e map[string]json.RawMessage
	if json.Unmarshal(entry, &e) != nil {
		return entry
	}
	var statuses map[string]map[string]json.RawMessage
	if json.Unmarshal(e["statuses"], &statuses) != nil {
		return entry
	}
	for _, rs := range statuses {
		var status string
		if json.Unmarshal(rs["status"], &status) != nil || !slices.Contains(AllStatuses, status) {
			continue
		}
		rs["counts"] = json.RawMessage(`{"imported_` + status + `":1}`)
	}
	b, err := json.Marshal(statuses)
	if err != nil {
		return entry
	}
	e["statuses"] = b
	out, err := json.Marshal(e)
	if err != nil {
		return entry
	}
	return out
}

// importedWeight is how many samples a bucket without counts stands for:
// one imported from GoDoxy, whose entries are one sample each, stands for
// its whole interval, at the rate live buckets were sampled (their samples
// per second, else one a second), so that imported and live history
// combine by the time they cover.
func importedWeight(entries []aggregators.Entry, interval int64) float64 {
	if interval == 0 { // unknown: the smallest step between buckets
		for i := 1; i < len(entries); i++ {
			if d := entries[i].Start - entries[i-1].Start; d > 0 && (interval == 0 || d < interval) {
				interval = d
			}
		}
	}
	if interval == 0 {
		return 1
	}
	// The sampling rate of full live buckets: not the newest (open), nor the
	// first live one (the hub may have started in its middle).
	var rates []float64
	first := true
	for i := 0; i+1 < len(entries); i++ {
		if entries[i].Count <= 1 { // an imported entry, or a bucket too thin to tell
			continue
		}
		if first {
			first = false
			continue
		}
		rates = append(rates, float64(entries[i].Count)/float64(interval))
	}
	rate := 1.0 // the default --poll-interval
	if len(rates) > 0 {
		sort.Float64s(rates)
		rate = rates[len(rates)/2]
	}
	return max(1, math.Round(rate*float64(interval)))
}

// add counts one bucket: n samples by status from the counts when the
// samples carry them, else, for an imported entry, weight samples of the
// bucket's last status (importedWeight).
func (t *tally) add(e aggregators.Entry, route *aggregators.Node, last string, latencyMs, weight float64) {
	byStatus := map[string]float64{}
	if c := route.Child("counts"); e.Has(c) {
		for _, s := range AllStatuses {
			if acc, ok := e.AccOf(c.Child(s)); ok {
				byStatus[s] = math.Round(acc.Val) // the sum of 1s and 0s
			}
			if acc, ok := e.AccOf(c.Child("imported_" + s)); ok { // imported from GoDoxy
				byStatus[s] += math.Round(acc.Val) * weight
			}
		}
	} else {
		byStatus[last] = weight
	}
	for s, n := range byStatus {
		switch s {
		case Unknown:
			continue
		case Healthy:
			t.up += n
		case Napping, Starting:
			t.idle += n
		default:
			t.down += n
		}
		t.known += n
		t.latencySum += latencyMs * n
	}
}

func (t *tally) aggregate(alias string) RouteAggregate {
	r := RouteAggregate{Alias: alias, CurrentStatus: Unknown, Statuses: t.hist}
	if n := len(t.hist); n > 0 {
		r.CurrentStatus = t.hist[n-1].Status
	}
	if t.known > 0 {
		r.Uptime = float32(t.up / t.known)
		r.Downtime = float32(t.down / t.known)
		r.Idle = float32(t.idle / t.known)
		r.AvgLatency = float32(t.latencySum / t.known)
	}
	return r
}

// MatchFold reports whether the runes of source appear in target in order,
// ignoring case: "adg" matches "AdGuard", "gdr" does not match "adguard".
func MatchFold(source, target string) bool {
	for _, r := range source {
		r = unicode.ToLower(r)
		found := false
		for len(target) > 0 {
			t, size := utf8.DecodeRuneInString(target)
			target = target[size:]
			if unicode.ToLower(t) == r {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
