package api

import (
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/persistence"
)

// Stats are the hub's figures about itself: GET /api/v1/stats serves them as
// JSON, GET /metrics as Prometheus metrics, and /healthz judges them. The
// types are those of the actors that keep the figures; the API only reads
// them (Config.Stats gathers them).
type Stats struct {
	Time     int64    `json:"time"`     // Unix seconds when read
	Status   string   `json:"status"`   // "ok", or "degraded" when there are problems
	Problems []string `json:"problems"` // what makes /healthz answer 503

	Actors     []actors.Status      `json:"actors"`
	Pollers    []actors.PollerStats `json:"pollers"`
	Pipeline   *pipeline.Stats      `json:"pipeline,omitempty"`
	Snapshots  *persistence.Stats   `json:"snapshots,omitempty"`
	WebSockets WebSocketStats       `json:"websockets"`
	Bus        *bus.Stats           `json:"bus,omitempty"`
}

// WebSocketStats are the API's WebSocket figures.
type WebSocketStats struct {
	Clients      int    `json:"clients"`       // open now
	ClosedSlow   uint64 `json:"closed_slow"`   // closed with 1013: the client did not read
	ClosedSilent uint64 `json:"closed_silent"` // closed: nothing heard from the client for PongWait
}

// stats gathers every figure and judges them at now.
func (s *Server) stats(now time.Time) *Stats {
	st := &Stats{}
	if s.cfg.Stats != nil {
		*st = s.cfg.Stats()
	}
	st.Time = now.Unix()
	st.WebSockets = WebSocketStats{Clients: s.sockets.count(), ClosedSlow: s.wsSlowClosed.Load(), ClosedSilent: s.wsTimeouts.Load()}
	if st.Actors == nil {
		st.Actors = []actors.Status{}
	}
	if st.Pollers == nil {
		st.Pollers = []actors.PollerStats{}
	}
	st.Problems = s.problems(st, now)
	st.Status = "ok"
	if len(st.Problems) > 0 {
		st.Status = "degraded"
	}
	return st
}

// problems is the health rule: an actor that is not running; snapshots that
// have failed for longer than two snapshot intervals; a poller, or a
// collector of one, that has failed on every poll for CollectorFailFor.
func (s *Server) problems(st *Stats, now time.Time) []string {
	out := []string{}
	for _, a := range st.Actors {
		if a.State == actors.StateRunning {
			continue
		}
		p := fmt.Sprintf("actor %s is %s", a.Name, a.State)
		if a.LastError != "" {
			p += ": " + a.LastError
		}
		out = append(out, p)
	}
	if sn := st.Snapshots; sn != nil && sn.FailingSince > 0 {
		failing := now.Sub(fromSeconds(sn.FailingSince))
		if limit := 2 * time.Duration(sn.IntervalSeconds*float64(time.Second)); failing > limit {
			out = append(out, fmt.Sprintf("snapshots have failed for %s (more than two snapshot intervals): %s",
				failing.Round(time.Second), sn.LastError))
		}
	}
	failed := func(what string, c actors.CollectorStats) {
		if c.FailingSince == 0 {
			return
		}
		if failing := now.Sub(fromSeconds(c.FailingSince)); failing >= s.cfg.CollectorFailFor {
			out = append(out, fmt.Sprintf("%s has failed every poll for %s: %s", what, failing.Round(time.Second), c.LastError))
		}
	}
	for _, p := range st.Pollers {
		failed("poller "+p.Kind, p.CollectorStats)
		for _, c := range p.Collectors {
			failed("collector "+p.Kind+"/"+c.Name, c)
		}
	}
	return out
}

// fromSeconds is the time of a Unix time in seconds with a fraction.
func fromSeconds(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

// Health is the /healthz body.
type Health struct {
	Status   string          `json:"status"` // "ok" or "degraded"
	Problems []string        `json:"problems"`
	Actors   []actors.Status `json:"actors"`
}

// healthz answers 200 when the hub is healthy, else 503; the body says why.
func (s *Server) healthz(c *fiber.Ctx) error {
	st := s.stats(time.Now())
	code := fiber.StatusOK
	if st.Status != "ok" {
		code = fiber.StatusServiceUnavailable
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(code).JSON(Health{Status: st.Status, Problems: st.Problems, Actors: st.Actors})
}

// statsJSON serves GET /api/v1/stats.
func (s *Server) statsJSON(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(s.stats(time.Now()))
}
