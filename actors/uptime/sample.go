package uptime

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/ringwatch/ringwatch/actors"
)

// Sample is one uptime sample: GoDoxy's StatusByAlias (statuses by alias with
// status, uptime, latency and sleep_in in nanoseconds, and the timestamp),
// with ringwatch's additions in each route's entry.
type Sample struct {
	Statuses  map[string]RouteStatus `json:"statuses"`
	Timestamp int64                  `json:"timestamp"`
}

// RouteStatus is one route in a sample.
type RouteStatus struct {
	Status  string `json:"status"`
	Uptime  int64  `json:"uptime"`   // ns in the current status, when healthy
	Latency int64  `json:"latency"`  // ns, of the last check
	SleepIn int64  `json:"sleep_in"` // ns; always 0 (no idle watcher)

	Reason     string `json:"reason"`                // why the last check was not healthy
	CertExpiry int64  `json:"cert_expiry,omitempty"` // Unix seconds of the HTTPS certificate's expiry
	Checks     uint64 `json:"checks"`                // checks completed since start (a counter)
	// Counts is 1 for the current status and 0 for the others, so that a
	// bucket's mean times its sample count is the number of samples that
	// had each status: uptime over any period counts every sample.
	Counts map[string]int `json:"counts"`
}

// AllStatuses lists the statuses, for Counts.
var AllStatuses = []string{Healthy, Unhealthy, Error, Napping, Starting, Unknown}

// Poll reports every route's current status (the Monitor as a Source).
func (m *Monitor) Poll(_ context.Context, _ actors.Reporter) (any, error) {
	now := time.Now()
	st := m.state.Load()
	out := Sample{Statuses: make(map[string]RouteStatus, len(st.routes)+len(st.removed)), Timestamp: now.Unix()}
	for alias, s := range st.routes {
		rs := RouteStatus{Status: s.last.Status, Latency: int64(s.last.Latency), Reason: s.last.Reason, Checks: s.checks}
		if s.last.Status == Healthy {
			rs.Uptime = int64(now.Sub(s.since))
		}
		if !s.last.CertExpiry.IsZero() {
			rs.CertExpiry = s.last.CertExpiry.Unix()
		}
		rs.Counts = counts(rs.Status)
		out.Statuses[alias] = rs
	}
	for alias, at := range st.removed {
		if now.Sub(at) < m.removedFor() {
			out.Statuses[alias] = RouteStatus{Status: Unknown, Reason: "no such route any more", Counts: counts(Unknown)}
		}
	}
	if len(out.Statuses) == 0 {
		return nil, actors.ErrNoSample
	}
	if len(out.Statuses) > RoutesPerMessage {
		return split(out), nil
	}
	return out, nil
}

// RoutesPerMessage bounds the routes of one published message: 10,000
// routes go out as 50 messages of about 50 KB, well under the bus's 1 MB
// payload limit and the hub's --max-sample-bytes.
const RoutesPerMessage = 200

// Part is one message of a sample split by route: the routes of the part,
// with "part" and "parts" saying which (see aggregators.Kind.Merge).
type Part struct {
	Statuses  map[string]RouteStatus `json:"statuses"`
	Timestamp int64                  `json:"timestamp"`
	Part      int                    `json:"part"`
	Parts     int                    `json:"parts"`
}

// Split is a sample published in parts.
type Split []Part

// Parts lists the parts, for the poller.
func (s Split) Parts() []any {
	out := make([]any, len(s))
	for i, p := range s {
		out[i] = p
	}
	return out
}

// split cuts a sample into parts of RoutesPerMessage routes, in alias order
// (so that a route stays in its part while the routes do not change).
func split(s Sample) Split {
	aliases := make([]string, 0, len(s.Statuses))
	for a := range s.Statuses {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	n := (len(aliases) + RoutesPerMessage - 1) / RoutesPerMessage
	out := make(Split, n)
	for i := range out {
		out[i] = Part{Statuses: map[string]RouteStatus{}, Timestamp: s.Timestamp, Part: i, Parts: n}
	}
	for i, a := range aliases {
		out[i/RoutesPerMessage].Statuses[a] = s.Statuses[a]
	}
	return out
}

// MergeParts joins the parts of a split sample into one StatusByAlias: every
// route of every part, the newest timestamp. It is the uptime kind's Merge.
func MergeParts(parts [][]byte) ([]byte, error) {
	all := struct {
		Statuses  map[string]json.RawMessage `json:"statuses"`
		Timestamp int64                      `json:"timestamp"`
	}{Statuses: map[string]json.RawMessage{}}
	for _, p := range parts {
		var part struct {
			Statuses  map[string]json.RawMessage `json:"statuses"`
			Timestamp int64                      `json:"timestamp"`
		}
		if err := json.Unmarshal(p, &part); err != nil {
			return nil, err
		}
		for a, st := range part.Statuses {
			all.Statuses[a] = st
		}
		all.Timestamp = max(all.Timestamp, part.Timestamp)
	}
	return json.Marshal(all)
}

var _ actors.Multipart = Split(nil)

func counts(status string) map[string]int {
	c := make(map[string]int, len(AllStatuses))
	for _, s := range AllStatuses {
		c[s] = 0
	}
	c[status] = 1
	return c
}

var _ actors.Source = (*Monitor)(nil)
