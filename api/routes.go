package api

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) routes() {
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/metrics", s.metricsText)
	s.app.Get("/", s.dashboard)
	s.app.Get("/ui/*", s.dashboard)
	v1 := s.app.Group("/api/v1")
	v1.Get("/hosts", s.hosts)
	v1.Get("/agent/list", s.agentList)
	v1.Get("/stats", s.statsJSON)
	v1.Get("/metrics/all_system_info", s.allSystemInfo)
	v1.Get("/metrics/:kind", s.metrics)
	v1.Get("/stream", s.stream)
	v1.Get("/openapi.yaml", s.openapi)
	// Anything else: Fiber answers 404, or 405 when the path exists for
	// another method, through errorHandler's JSON.
}

// Host is one entry of /api/v1/hosts.
type Host struct {
	Name string `json:"name"`
	// DisplayName is the name its agent was given, as all_system_info keys
	// its frames ("My NAS" for my-nas; "GoDoxy" for the hub's own with
	// --godoxy-names).
	DisplayName string   `json:"display_name"`
	Kinds       []string `json:"kinds"`
	LastSeen    int64    `json:"last_seen"` // Unix seconds of the newest sample
	Online      bool     `json:"online"`
}

func (s *Server) hosts(c *fiber.Ctx) error {
	now := time.Now()
	byName := map[string]*Host{}
	var out []*Host
	for _, l := range s.cfg.Store.AllLatest() {
		h := byName[l.Host]
		if h == nil {
			h = &Host{Name: l.Host, DisplayName: s.displayName(l.Host), Kinds: []string{}}
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

// Agent is one entry of GET /api/v1/agent/list, in GoDoxy's shape: the
// name the web UI shows and keys live cards by, and the address it passes
// back as agent_addr (the host's subject token).
type Agent struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// agentList answers GoDoxy's agent list: every host the hub knows but its
// own (GoDoxy's main server is not an agent); over WebSocket, the list
// every 10 s, as GoDoxy sends it.
func (s *Server) agentList(c *fiber.Ctx) error {
	if websocket.IsWebSocketUpgrade(c) {
		return s.upgradeAgents(c)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.agents())
}

func (s *Server) agents() []byte {
	out := []Agent{}
	seen := map[string]bool{s.cfg.OwnHost: true}
	for _, l := range s.cfg.Store.AllLatest() {
		if !seen[l.Host] {
			seen[l.Host] = true
			out = append(out, Agent{Name: s.displayName(l.Host), Addr: l.Host})
		}
	}
	body, _ := json.Marshal(out)
	return body
}

// serveAgents sends the agent list at once and then every AgentListEvery
// (Config).
func (s *Server) serveAgents(c *websocket.Conn) {
	k := s.newSocket(c, 0)
	k.run(func(k *socket) func() {
		send := func() {
			if fr, err := newFrame(s.agents()); err == nil {
				k.offer(fr)
			}
		}
		send()
		stop := make(chan struct{})
		s.feeds.wg.Go(func() { everyTick(stop, s.cfg.AgentListEvery, send) })
		return func() { close(stop) }
	})
}

// known reports whether the hub has anything for host; the hub's own host
// is known even before its first sample.
func (s *Server) known(host string) bool {
	return host == s.cfg.OwnHost || s.cfg.Store.Known(host)
}

func (s *Server) metrics(c *fiber.Ctx) error {
	if websocket.IsWebSocketUpgrade(c) {
		return s.metricsSocket(c)
	}
	q, err := s.parseQuery(c.Params("kind"), queryValues(c))
	if err != nil {
		return err
	}
	body, err := s.answer(q)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}
