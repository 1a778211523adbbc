package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/ringwatch/ringwatch/bus"
)

// allSystemInfo serves GET /api/v1/metrics/all_system_info: WebSocket only.
// Every interval it sends, for each known host, a frame {"<host>": <body>}
// where body is what /api/v1/metrics/system_info would answer for that host
// and the same period, aggregate and stat; a host's frame is sent only when
// its body changed.
func (s *Server) allSystemInfo(c *fiber.Ctx) error {
	if !fws.IsWebSocketUpgrade(c) {
		// GoDoxy's own body (its message), with the error shape's error.
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(fiber.StatusBadRequest).JSON(Error{Message: "bad request, websocket is required",
			Error: "all_system_info is WebSocket only: connect with ws:// or wss://"})
	}
	v := queryValues(c)
	req := &socketRequest{}
	req.interval = parseInterval(v)
	// Validate once against the own host; each tick re-parses per host.
	// The socket covers every host: whatever names one is not for it.
	v.Del("host")
	v.Del("agent_name")
	v.Del("agent_addr")
	_, req.err = s.parseQuery(systemInfo, v)
	req.values = v
	c.Locals(localRequest, req)
	return s.upgradeAll(c)
}

const systemInfo = "system_info"

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// validStreamSubject accepts NATS subjects (with * and > wildcards) under
// ringwatch.raw. or ringwatch.agg. only.
func validStreamSubject(subj string) error {
	if !strings.HasPrefix(subj, bus.RawPrefix) && !strings.HasPrefix(subj, bus.AggPrefix) {
		return fmt.Errorf("subject %q: only ringwatch.raw.> and ringwatch.agg.> subjects may be streamed", subj)
	}
	toks := strings.Split(subj, ".")
	if len(subj) > 255 || len(toks) < 3 || len(toks) > 16 {
		return fmt.Errorf("subject %q: too long, or too many or too few tokens", subj)
	}
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q: empty token", subj)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", subj)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*> \t\r\n"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens, and spaces are not allowed", subj)
		}
	}
	return nil
}

// stream serves GET /api/v1/stream?subject=...: a WebSocket relay of bus
// messages, one frame per message: {"subject": "...", "data": <payload>}.
// A forbidden subject is refused before the upgrade.
func (s *Server) stream(c *fiber.Ctx) error {
	subj := c.Query("subject")
	if subj == "" {
		return badRequest("subject is required, e.g. ringwatch.raw.> or ringwatch.agg.*.system_info.5m")
	}
	if err := validStreamSubject(subj); err != nil {
		return badRequest("%v", err)
	}
	if s.cfg.Bus == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "the stream relay is not available")
	}
	if !fws.IsWebSocketUpgrade(c) {
		return badRequest("the stream is WebSocket only: connect with ws:// or wss://")
	}
	c.Locals(localRequest, &socketRequest{subject: strings.Clone(subj)})
	return s.upgradeStream(c)
}

// streamFrame is one relayed message.
type streamFrame struct {
	Subject string          `json:"subject"`
	Data    json.RawMessage `json:"data"`
}

func (s *Server) serveStream(c *fws.Conn) {
	req := c.Locals(localRequest).(*socketRequest)
	k := s.newSocket(c, s.cfg.StreamQueue)
	k.limit = int64(s.cfg.StreamBytes)
	k.run(func(k *socket) func() {
		// A connection of its own: what the bus holds for this socket is
		// bounded, and a socket the bus gives up on is closed, not left
		// looking healthy while it misses messages.
		conn, err := s.cfg.Bus.ConnectWith("ringwatch-stream", bus.ConnOptions{
			OnSlow: func() { k.tooSlow("too slow: the bus dropped messages for this socket") },
			OnLost: func() { k.tooSlow("too slow: the bus closed this socket's connection") },
		})
		if err != nil {
			k.close(1011, "cannot connect to the bus")
			return nil
		}
		sub, err := conn.SubscribeBounded(req.subject, s.cfg.StreamBytes, func(m *bus.Msg) {
			data := m.Data
			if !json.Valid(data) { // not ours: relay it as a string
				data, _ = json.Marshal(string(m.Data))
			}
			body, _ := json.Marshal(streamFrame{Subject: m.Subject, Data: data})
			if f, err := newFrame(body); err == nil {
				k.enqueue(f)
			}
		})
		if err != nil {
			conn.Close()
			k.close(1000, "cannot subscribe: "+err.Error())
			return nil
		}
		return func() { _ = sub.Unsubscribe(); conn.Close() }
	})
}
