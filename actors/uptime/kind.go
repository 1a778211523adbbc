// Package uptime is the uptime kind: route health samples, in GoDoxy's
// StatusByAlias shape, and their aggregation into per-route availability.
//
// A sample is {"statuses": {"<alias>": {"status": "healthy", "uptime": ns,
// "latency": ns, "sleep_in": ns}}, "timestamp": <unix s>}. The poller that
// checks routes comes with the uptime issue; until then the hub serves
// whatever uptime samples the bus carries (from agents, say).
package uptime

import (
	"math"
	"sort"
	"strconv"
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
		Counters: []string{"statuses.*.uptime"},
		Modes:    map[string]aggregators.Mode{"routes": Routes},
		Default:  "routes",
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
// in-order subsequence: "adg" matches "adguard"); ratios from 0 to 1 over
// the buckets whose status is known; the average latency in ms; the last
// bucket's status as current_status.
func Routes(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
	keyword := q.Values.Get("keyword")
	hist := map[string][]Status{}
	for _, e := range entries {
		sts := e.Layout.Lookup("statuses")
		if !e.Has(sts) {
			continue
		}
		for _, route := range sts.Children() {
			st := route.Child("status")
			raw := e.Lit(st)
			if !e.Has(route) || raw == nil {
				continue
			}
			status, err := strconv.Unquote(string(raw))
			if err != nil {
				status = Unknown
			}
			lat, _ := e.Get(route.Child("latency"), q.Stat)
			ms := math.Min(math.Floor(lat/1e6), math.MaxInt32)
			hist[route.Key] = append(hist[route.Key], Status{Status: status, Latency: int32(max(ms, 0)), Timestamp: e.Start})
		}
	}
	aliases := make([]string, 0, len(hist))
	for a := range hist {
		if keyword == "" || MatchFold(keyword, a) {
			aliases = append(aliases, a)
		}
	}
	sort.Strings(aliases)
	out := make([]any, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, aggregate(a, hist[a]))
	}
	return out, nil
}

func aggregate(alias string, hist []Status) RouteAggregate {
	r := RouteAggregate{Alias: alias, CurrentStatus: Unknown, Statuses: hist}
	var up, down, idle, counted int
	var latency float64
	for _, s := range hist {
		switch s.Status {
		case Unknown:
			continue
		case Healthy:
			up++
		case Napping, Starting:
			idle++
		default:
			down++
		}
		counted++
		latency += float64(s.Latency)
	}
	if n := len(hist); n > 0 {
		r.CurrentStatus = hist[n-1].Status
	}
	if counted > 0 {
		c := float32(counted)
		r.Uptime, r.Downtime, r.Idle = float32(up)/c, float32(down)/c, float32(idle)/c
		r.AvgLatency = float32(latency / float64(counted))
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
