package api

import (
	"sort"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

func (s *Server) routes() {
	s.app.Get("/healthz", s.healthz)
	v1 := s.app.Group("/api/v1")
	v1.Get("/hosts", s.hosts)
	v1.Get("/metrics/:kind", s.metrics)
	// Anything else: Fiber answers 404, or 405 when the path exists for
	// another method, through errorHandler's JSON.
}

// Health is the /healthz body.
type Health struct {
	Status   string            `json:"status"` // "ok" or "degraded"
	Actors   []actors.Status   `json:"actors"`
	Counters map[string]uint64 `json:"counters"`
}

func (s *Server) healthz(c *fiber.Ctx) error {
	h := Health{Status: "ok", Actors: []actors.Status{}, Counters: s.cfg.Pipeline.Counters()}
	if s.cfg.Counters != nil {
		for k, v := range s.cfg.Counters() {
			h.Counters[k] = uint64(max(v, 0))
		}
	}
	code := fiber.StatusOK
	if s.cfg.Supervisor != nil {
		h.Actors = s.cfg.Supervisor.Statuses()
		if !s.cfg.Supervisor.Healthy() {
			h.Status, code = "degraded", fiber.StatusServiceUnavailable
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(code).JSON(h)
}

// Host is one entry of /api/v1/hosts.
type Host struct {
	Name     string   `json:"name"`
	Kinds    []string `json:"kinds"`
	LastSeen int64    `json:"last_seen"` // Unix seconds of the newest sample
	Online   bool     `json:"online"`
}

func (s *Server) hosts(c *fiber.Ctx) error {
	now := time.Now()
	byName := map[string]*Host{}
	var out []*Host
	for _, l := range s.cfg.Pipeline.Ingest.AllLatest() {
		h := byName[l.Host]
		if h == nil {
			h = &Host{Name: l.Host, Kinds: []string{}}
			byName[l.Host] = h
			out = append(out, h)
		}
		h.Kinds = append(h.Kinds, l.Kind)
		h.LastSeen = max(h.LastSeen, l.Time)
		if !l.Received.IsZero() && now.Sub(l.Received) <= 3*s.cfg.PollInterval {
			h.Online = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []*Host{}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

// Page is the body of a query with a period.
type Page struct {
	Total int   `json:"total"`
	Data  []any `json:"data"`
}

// known reports whether the hub has anything for host.
func (s *Server) known(host string) bool {
	for _, l := range s.cfg.Pipeline.Ingest.AllLatest() {
		if l.Host == host {
			return true
		}
	}
	for _, d := range s.cfg.Pipeline.Downsamplers {
		for kind := range s.cfg.Pipeline.Kinds {
			if d.Has(host, kind) {
				return true
			}
		}
	}
	return false
}

func queryInt(c *fiber.Ctx, key string) (int, error) {
	raw := c.Query(key)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > 1_000_000 {
		return 0, badRequest("invalid %s %q: want a whole number from 0 to 1000000", key, raw)
	}
	return n, nil
}

func (s *Server) metrics(c *fiber.Ctx) error {
	kindName := c.Params("kind")
	kind, ok := s.cfg.Pipeline.Kinds[kindName]
	if !ok {
		return notFound("unknown metrics kind %q", kindName)
	}
	host := c.Query("host")
	if host == "" {
		host = c.Query("agent_name")
	}
	if host == "" {
		host = s.cfg.OwnHost
	} else {
		host = bus.Token(host)
	}
	period := c.Query("period")
	stat, ok := aggregators.ParseStat(c.Query("stat"))
	if !ok {
		return badRequest("invalid stat %q: want avg, min or max", c.Query("stat"))
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	offset, err := queryInt(c, "offset")
	if err != nil {
		return err
	}
	var per aggregators.Period
	if period != "" {
		if per, err = aggregators.ParsePeriod(period); err != nil {
			return badRequest("%v", err)
		}
		if _, ok := kind.Modes[c.Query("aggregate")]; !ok {
			_, err := kind.Aggregate(c.Query("aggregate"), nil, aggregators.Query{})
			return badRequest("%v", err)
		}
	}
	if !s.known(host) {
		return notFound("unknown host %q", host)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if period == "" {
		l := s.cfg.Pipeline.Ingest.Latest(host, kindName)
		if l == nil {
			return c.SendStatus(fiber.StatusNoContent)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(l.Raw)
	}
	var entries []aggregators.Entry
	if v := s.cfg.Pipeline.View(per, host, kindName); v != nil {
		entries = v.Entries()
	}
	data, err := kind.Aggregate(c.Query("aggregate"), entries, aggregators.Query{Stat: stat, Values: queryValues(c)})
	if err != nil {
		return badRequest("%v", err)
	}
	return c.JSON(Page{Total: len(data), Data: paginate(data, limit, offset)})
}

// paginate slices after offset, at most limit items (0: all).
func paginate(data []any, limit, offset int) []any {
	if offset >= len(data) {
		return []any{}
	}
	data = data[offset:]
	if limit > 0 && limit < len(data) {
		data = data[:limit]
	}
	return data
}
