package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
)

// Config is what the API serves.
type Config struct {
	Addr         string // listen address, e.g. 127.0.0.1:8080
	Pipeline     *aggregators.Pipeline
	Supervisor   *actors.Supervisor // for /healthz; nil reports only the pipeline
	OwnHost      string             // the host answered when a query names none
	PollInterval time.Duration      // a host is online with a sample within 3 of these
	Log          *slog.Logger
	// Counters adds named counters to /healthz (the snapshotter's, say).
	Counters func() map[string]int64
}

// Server is the API actor.
type Server struct {
	cfg  Config
	app  *fiber.App
	addr atomic.Pointer[string]
	ln   atomic.Pointer[net.Listener] // bound by Listen, taken by Run
}

// New builds the app; Run serves it.
func New(cfg Config) *Server {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	s := &Server{cfg: cfg}
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ReadBufferSize:        8192,
		ErrorHandler:          s.errorHandler,
	})
	s.app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			cfg.Log.Error("handler panicked", "method", c.Method(), "path", c.Path(), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
		},
	}))
	s.routes()
	return s
}

// App is the Fiber app, for tests that drive it without a listener.
func (s *Server) App() *fiber.App { return s.app }

// Addr is the bound address once Run listens, else "".
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
// restart, a new one.
func (s *Server) Run(ctx context.Context) error {
	if s.ln.Load() == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ln := *s.ln.Swap(nil)
	s.cfg.Log.Info("api listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		s.cfg.Log.Warn("api shutdown", "err", err)
	}
	<-errc
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
	case fiber.StatusNotFound:
		return "not found"
	case fiber.StatusMethodNotAllowed:
		return "method not allowed"
	}
	if code >= 500 {
		return "internal server error"
	}
	return fiber.ErrBadRequest.Message
}

func badRequest(format string, a ...any) error {
	return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(format, a...))
}

func notFound(format string, a ...any) error {
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf(format, a...))
}

var _ actors.Actor = (*Server)(nil)
