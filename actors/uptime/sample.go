package uptime

import (
	"context"
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
	return out, nil
}

func counts(status string) map[string]int {
	c := make(map[string]int, len(AllStatuses))
	for _, s := range AllStatuses {
		c[s] = 0
	}
	c[status] = 1
	return c
}

var _ actors.Source = (*Monitor)(nil)
