package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	fiberrecover "github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/valyala/fasthttp"

	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// Store is what the API reads of the pipeline: the registered kinds, the
// latest raw samples and the periods' views. Every method is safe from any
// goroutine and returns immutable values.
type Store interface {
	Kind(name string) (aggregators.Kind, bool)
	Latest(host, kind string) *aggregators.Latest
	AllLatest() []*aggregators.Latest // sorted by host, then kind
	View(period aggregators.Period, host, kind string) *aggregators.View
	// Known reports whether there is anything at all for host.
	Known(host string) bool
	// Name is host's display name, as its agent was given it, or host.
	Name(host string) string
}

// Dialer opens in-process bus connections: *bus.Server.
type Dialer interface {
	ConnectWith(name string, o bus.ConnOptions) (*bus.Conn, error)
}

// Config is what the API serves and how.
type Config struct {
	Addr  string // listen address, e.g. 127.0.0.1:8080
	Store Store
	// Bus opens the stream relay's connections, one per socket, so that a
	// slow socket costs nobody else; nil disables the relay.
	Bus     Dialer
	OwnHost string // the host answered when a query names none
	OwnName string // the own host's display name (--host as given)
	// GoDoxyNames keys the own host "GoDoxy" where GoDoxy's web UI expects
	// its main server (all_system_info, the agent list).
	GoDoxyNames  bool
	PollInterval time.Duration // a host is online with a sample within 3 of these
	Log          *slog.Logger
	Version      string // reported as ringwatch_build_info

	// Stats gathers the hub's figures for /metrics, /api/v1/stats and
	// /healthz; the API adds its own (WebSockets) and the health verdict.
	// nil: the API's own figures only.
	Stats func() Stats
	// CollectorFailFor is how long a poller or collector must fail every
	// poll before /healthz reports it (default 1 min).
	CollectorFailFor time.Duration

	// AllowedOrigins lists the Origin values a WebSocket may come from besides
	// the API's own host ("*": any). Empty: same host only.
	AllowedOrigins []string
	// Token, when set, is required as "Authorization: Bearer <token>" (or
	// ?token= on WebSocket upgrades) on every route but /healthz.
	Token string
	// AllowedHosts are Host names the API answers besides loopback ones
	// (against DNS rebinding). Listening on a loopback address, only
	// loopback names and these are answered; on any other address the
	// Host is checked only when AllowedHosts is set.
	AllowedHosts []string

	PongWait     time.Duration // close a socket silent this long (default 60 s)
	PingPeriod   time.Duration // protocol ping interval (default 25 s)
	WriteTimeout time.Duration // a write blocked this long closes the socket with 1013 (default 10 s)
	CloseWait    time.Duration // how long a closing socket waits for the peer's answer (default 2 s)
	StreamQueue  int           // relay frames queued per socket (default 1024)
	StreamBytes  int           // relay bytes queued per socket, in the socket and on the bus (default 8 MiB)
	// AgentListEvery is how often the agent list socket sends the list
	// (default 10 s, as GoDoxy).
	AgentListEvery time.Duration
}

// Server is the API actor.
type Server struct {
	cfg  Config
	app  *fiber.App
	addr atomic.Pointer[string]
	ln   atomic.Pointer[net.Listener] // bound by Listen, taken by Run

	answers  answers
	feeds    feeds
	allFeeds allFeeds
	sockets  sockets

	upgradeMetrics, upgradeAll, upgradeStream, upgradeAgents fiber.Handler
	stopping                                                 atomic.Bool
	loopback                                                 bool // Addr is a loopback address: Host is checked
	prom                                                     *metricsRegistry

	// Counters, for the stats.
	wsSlowClosed, wsTimeouts atomic.Uint64
	computations             atomic.Uint64
}

// Computations is how many times an aggregate mode has run: a change of the
// data costs one per distinct query, however many clients watch it.
func (s *Server) Computations() uint64 { return s.computations.Load() }

// New builds the app; Run serves it.
func New(cfg Config) *Server {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = 60 * time.Second
	}
	if cfg.PingPeriod <= 0 {
		cfg.PingPeriod = 25 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.CloseWait <= 0 {
		cfg.CloseWait = 2 * time.Second
	}
	if cfg.StreamQueue <= 0 {
		cfg.StreamQueue = 1024
	}
	if cfg.StreamBytes <= 0 {
		cfg.StreamBytes = 8 << 20
	}
	if cfg.AgentListEvery <= 0 {
		cfg.AgentListEvery = 10 * time.Second
	}
	if cfg.CollectorFailFor <= 0 {
		cfg.CollectorFailFor = time.Minute
	}
	s := &Server{cfg: cfg}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
		ip := net.ParseIP(host)
		s.loopback = strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
	}
	s.prom = newMetricsRegistry(s)
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ReadBufferSize:        8192,
		ErrorHandler:          s.errorHandler,
	})
	wsCfg := fws.Config{
		HandshakeTimeout: 10 * time.Second,
		// Origins are checked before the upgrade (checkOrigin), with a JSON
		// error; the panic handler logs instead of echoing the panic.
		RecoverHandler: func(c *fws.Conn) {
			if e := recover(); e != nil {
				cfg.Log.Error("websocket handler panicked", "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
			}
		},
	}
	s.upgradeMetrics = fws.New(s.serveMetrics, wsCfg)
	s.upgradeAll = fws.New(s.serveAll, wsCfg)
	s.upgradeStream = fws.New(s.serveStream, wsCfg)
	s.upgradeAgents = fws.New(s.serveAgents, wsCfg)
	s.app.Use(fiberrecover.New(fiberrecover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			cfg.Log.Error("handler panicked", "method", c.Method(), "path", c.Path(), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
		},
	}))
	s.app.Use(s.guard)
	s.routes()
	// A method Fiber does not know gets a text/plain 400 from Fiber itself,
	// before any handler: answer it here, as every other error, in JSON.
	known := map[string]bool{}
	for _, m := range fiber.DefaultMethods {
		known[m] = true
	}
	next := s.app.Server().Handler
	s.app.Server().Handler = func(ctx *fasthttp.RequestCtx) {
		if known[string(ctx.Method())] {
			next(ctx)
			return
		}
		body, _ := json.Marshal(Error{Message: statusMessage(fiber.StatusMethodNotAllowed), Error: fmt.Sprintf("method %.32q is not supported", ctx.Method())})
		ctx.SetStatusCode(fiber.StatusMethodNotAllowed)
		ctx.SetContentType(fiber.MIMEApplicationJSON)
		ctx.Response.Header.Set(fiber.HeaderCacheControl, "no-store")
		ctx.SetBody(body)
	}
	return s
}

// App is the Fiber app, for tests that drive it without a listener.
func (s *Server) App() *fiber.App { return s.app }

// Addr is the bound address once listening, else "".
func (s *Server) Addr() string {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Listen binds the address now, so that a bad or busy address fails start-up
// instead of a restart loop. Run serves on it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Addr, err)
	}
	a := ln.Addr().String()
	s.addr.Store(&a)
	s.ln.Store(&ln)
	return nil
}

// Run serves until ctx is done, on the listener of Listen or, after a
// restart, a new one. On the way out it closes every WebSocket with 1001 and
// waits for them before the HTTP server stops (Fiber's shutdown alone leaves
// hijacked connections open).
func (s *Server) Run(ctx context.Context) error {
	if s.ln.Load() == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ln := *s.ln.Swap(nil)
	s.stopping.Store(false)
	s.sockets.open()
	s.cfg.Log.Info("api listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.sockets.closeAll(sctx) {
		s.cfg.Log.Warn("api shutdown: some WebSockets did not close in time", "open", s.sockets.count())
	}
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		s.cfg.Log.Warn("api shutdown", "err", err)
	}
	<-errc
	s.feeds.stopAll()
	s.allFeeds.stopAll()
	return nil
}

// Error is the JSON body of every error response.
type Error struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	body := Error{Message: statusMessage(code), Error: err.Error()}
	if code == fiber.StatusMethodNotAllowed {
		body.Error = fmt.Sprintf("%s is not allowed on %s: GET only", c.Method(), c.Path())
		c.Set(fiber.HeaderAllow, "GET, HEAD")
	}
	if code >= 500 {
		s.cfg.Log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		body.Error = "internal server error" // never leak internals
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(code).JSON(body)
}

func statusMessage(code int) string {
	switch code {
	case fiber.StatusBadRequest:
		return "bad request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not found"
	case fiber.StatusMethodNotAllowed:
		return "method not allowed"
	case fiber.StatusRequestURITooLong:
		return "uri too long"
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "request headers too large"
	case fiber.StatusMisdirectedRequest:
		return "misdirected request"
	}
	if code >= 500 {
		return "internal server error"
	}
	return strings.ToLower(fiber.ErrBadRequest.Message)
}

func badRequest(format string, a ...any) error {
	return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(format, a...))
}

func notFound(format string, a ...any) error {
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf(format, a...))
}

// guard runs before every route: size, Host, token and (for upgrades)
// origin.
func (s *Server) guard(c *fiber.Ctx) error {
	if !s.hostAllowed(c) {
		return fiber.NewError(fiber.StatusMisdirectedRequest, fmt.Sprintf("host %q is not served here (a DNS rebinding guard: see --allowed-hosts)", c.Hostname()))
	}
	if n := len(c.Request().URI().QueryString()); n > maxQueryString {
		return fiber.NewError(fiber.StatusRequestURITooLong, fmt.Sprintf("query string of %d bytes is over the %d byte limit", n, maxQueryString))
	}
	if c.Path() == "/healthz" || (dashboardPath(c.Path()) && !fws.IsWebSocketUpgrade(c)) {
		return c.Next()
	}
	if s.cfg.Token != "" && !s.authorized(c) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ringwatch"`)
		return fiber.NewError(fiber.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token>")
	}
	if fws.IsWebSocketUpgrade(c) && !s.originAllowed(c) {
		return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("origin %q may not open WebSockets here (see --allowed-origins)", c.Get(fiber.HeaderOrigin)))
	}
	if p := csrfProtocol(c.Get(fiber.HeaderSecWebSocketProtocol)); p != "" && upgradeRoute(c) {
		// The upgrader answers with this header's value (no Subprotocols
		// are configured); a browser fails a handshake that asked for a
		// subprotocol and got none.
		c.Set(fiber.HeaderSecWebSocketProtocol, p)
	}
	return c.Next()
}

// authorized: "Authorization: Bearer <token>" (the scheme in any case, RFC
// 9110 section 11.1), or ?token= on a request that a WebSocket route will
// upgrade (browsers cannot set headers on WebSockets), and nowhere else.
func (s *Server) authorized(c *fiber.Ctx) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	got = strings.TrimSpace(got)
	if !ok && upgradeRoute(c) {
		got, ok = c.Query("token"), true
	}
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// csrfProtocol is the csrf.<token> subprotocol GoDoxy's web UI asks for
// when it holds a godoxy_csrf cookie, or "".
func csrfProtocol(requested string) string {
	for p := range strings.SplitSeq(requested, ",") {
		if p = strings.TrimSpace(p); strings.HasPrefix(p, "csrf.") && len(p) <= 256 {
			return p
		}
	}
	return ""
}

// upgradeRoute says whether c is a WebSocket upgrade on a route that
// upgrades: the metrics routes and the stream relay.
func upgradeRoute(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodGet || !fws.IsWebSocketUpgrade(c) {
		return false
	}
	p := strings.TrimSuffix(strings.ToLower(c.Path()), "/")
	return p == "/api/v1/stream" || p == "/api/v1/agent/list" || (strings.HasPrefix(p, "/api/v1/metrics/") && !strings.Contains(strings.TrimPrefix(p, "/api/v1/metrics/"), "/"))
}

// hostAllowed is the guard against DNS rebinding: a page on a domain that
// resolves to this machine sends its own name as Host. See
// Config.AllowedHosts.
func (s *Server) hostAllowed(c *fiber.Ctx) bool {
	if !s.loopback && len(s.cfg.AllowedHosts) == 0 {
		return true
	}
	host := c.Hostname()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || !s.loopback) {
		return true // an address is no rebinding: the attacker's page has a name
	}
	for _, h := range s.cfg.AllowedHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// originAllowed: no Origin (not a browser), the request's own host (any
// port, any case), or one of AllowedOrigins.
func (s *Server) originAllowed(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := c.Hostname()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.EqualFold(u.Hostname(), host)
}

// The server is an actor (actors.Actor: Run(ctx) error).
var _ interface{ Run(context.Context) error } = (*Server)(nil)

// displayName is what GoDoxy's web UI knows host by: the name its agent was
// given ("My NAS"), and for the hub's own host its --host, or "GoDoxy" with
// GoDoxyNames.
func (s *Server) displayName(host string) string {
	if host == s.cfg.OwnHost {
		if s.cfg.GoDoxyNames {
			return "GoDoxy"
		}
		if s.cfg.OwnName != "" && bus.Token(s.cfg.OwnName) == host {
			return s.cfg.OwnName
		}
		return host
	}
	return s.cfg.Store.Name(host)
}
