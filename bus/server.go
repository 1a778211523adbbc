package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Options configure the embedded server.
type Options struct {
	// Addr is host:port for the TCP listener; empty serves in-process clients
	// only. Port 0 picks a free port.
	Addr string
	// Log receives the server's log lines, tagged component=nats.
	Log *slog.Logger
	// Debug forwards the server's debug and trace lines.
	Debug bool
	// Secure makes every client authenticate: the identities below over
	// TCP, the hub's own connections in-process with an identity of their
	// own. Without it the bus is open to whoever reaches Addr.
	Secure     bool
	Identities []Identity
	// TLS, when its Cert is set, makes the TCP listener TLS-only; with a CA,
	// clients must also present a certificate it signed.
	TLS TLSFiles
	// Name is the server's name, unique within a cluster (default
	// "ringwatch").
	Name    string
	Cluster ClusterOptions
	// LeafAddr, when set, is where remote sites' leaf nodes connect (with
	// a site identity; TLS as the client port's).
	LeafAddr string
	// Replay, when set, turns on JetStream for the replay stream.
	Replay *ReplayOptions
}

// TLSFiles are PEM files: a certificate and its key, and a CA.
type TLSFiles struct{ Cert, Key, CA string }

// ClusterOptions make the embedded server a node of a NATS cluster.
type ClusterOptions struct {
	// Addr is host:port where the node accepts the other nodes' routes;
	// empty: not clustered.
	Addr string
	// Name is the cluster's name, the same on every node.
	Name string
	// Routes are the other nodes' Addr, as nats-route://host:port or
	// host:port.
	Routes []string
	// Secret, when set, is what the nodes' routes authenticate with (the
	// same on every node).
	Secret string
}

const routeUser = "ringwatch-route"

// Server is the embedded NATS server.
type Server struct {
	ns  *server.Server
	log *slog.Logger

	sopts    *server.Options // as started, for reloads
	internal nkeys.KeyPair   // the hub's in-process identity, when Secure
	reloadMu sync.Mutex

	mu    sync.Mutex
	conns map[*Conn]struct{} // in-process connections, closed before the server stops
}

// Start starts the embedded server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	name := opts.Name
	if name == "" {
		name = "ringwatch"
	}
	sopts := &server.Options{
		ServerName: name,
		NoSigs:     true, // the process owns its signals and its shutdown order
		DontListen: opts.Addr == "",
		MaxPayload: 1 << 20,
	}
	if opts.Addr != "" {
		host, p, err := hostPort("nats", opts.Addr, true)
		if err != nil {
			return nil, err
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads 0 as its default 4222
		}
		if host == "" {
			host = "0.0.0.0"
		}
		sopts.Host, sopts.Port = host, p
	}
	if opts.TLS.Cert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: opts.TLS.Cert, KeyFile: opts.TLS.Key, CaFile: opts.TLS.CA, Verify: opts.TLS.CA != ""})
		if err != nil {
			return nil, fmt.Errorf("bus: tls: %w", err)
		}
		sopts.TLSConfig, sopts.TLS, sopts.TLSVerify = tc, true, opts.TLS.CA != ""
		sopts.TLSTimeout = 2
	} else if opts.TLS.Key != "" || opts.TLS.CA != "" {
		return nil, errors.New("bus: tls: a key or CA without a certificate")
	}
	if err := applyCluster(sopts, opts); err != nil {
		return nil, err
	}
	if opts.LeafAddr != "" {
		host, p, err := hostPort("leaf-node", opts.LeafAddr, false)
		if err != nil {
			return nil, err
		}
		sopts.LeafNode.Host, sopts.LeafNode.Port = host, p
		if sopts.TLSConfig != nil {
			sopts.LeafNode.TLSConfig, sopts.LeafNode.TLSTimeout = sopts.TLSConfig.Clone(), 2
		}
	}
	if r := opts.Replay; r != nil {
		sopts.JetStream, sopts.StoreDir = true, r.StoreDir
		sopts.JetStreamMaxStore, sopts.JetStreamMaxMemory = r.MaxBytes, 64<<20
	}
	var internal nkeys.KeyPair
	if opts.Secure {
		if err := ValidateIdentities(opts.Identities); err != nil {
			return nil, fmt.Errorf("bus: %w", err)
		}
		var err error
		if internal, err = nkeys.CreateUser(); err != nil {
			return nil, fmt.Errorf("bus: %w", err)
		}
		pub, _ := internal.PublicKey()
		applyAuth(sopts, opts.Identities, pub)
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	ns.SetLoggerV2(&logAdapter{log: log.With("component", "nats")}, opts.Debug, opts.Debug, false)
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("bus: nats server not ready within 10s (is the address in use?)")
	}
	return &Server{ns: ns, log: log, sopts: sopts, internal: internal}, nil
}

// Secure says whether the server requires authentication.
func (s *Server) Secure() bool { return s.internal != nil }

// SetIdentities replaces the identities a secure server admits, without
// dropping the connections of those that stay; a client whose identity
// went or changed is disconnected.
func (s *Server) SetIdentities(ids []Identity) error {
	if s.internal == nil {
		return errors.New("bus: the server was started without authentication")
	}
	if err := ValidateIdentities(ids); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	o := s.sopts.Clone()
	pub, _ := s.internal.PublicKey()
	applyAuth(o, ids, pub)
	if err := s.ns.ReloadOptions(o); err != nil {
		return fmt.Errorf("bus: reload: %w", err)
	}
	s.sopts = o
	return nil
}

// Addr is the TCP address clients can dial, or "" when in-process only.
func (s *Server) Addr() string {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok && a != nil {
		return a.String()
	}
	return ""
}

// Connect opens an in-process client connection named name.
func (s *Server) Connect(name string) (*Conn, error) {
	return s.ConnectWith(name, ConnOptions{})
}

// ConnOptions tune an in-process connection.
type ConnOptions struct {
	// OnSlow, when set, is called when messages for one of the
	// connection's subscriptions were dropped: its pending limit was
	// reached (see SubscribeBounded). It may be called more than once.
	OnSlow func()
	// OnLost, when set, makes the connection one that does not reconnect:
	// OnLost is called once if the server closes it (for a slow consumer,
	// say), not when the connection's own Close does.
	OnLost func()
}

// ConnectWith opens an in-process client connection named name.
func (s *Server) ConnectWith(name string, o ConnOptions) (*Conn, error) {
	c := &Conn{srv: s}
	handler := errorHandler(s.log)
	opts := []nats.Option{nats.InProcessServer(s.ns), nats.Name(name), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && o.OnSlow != nil {
				o.OnSlow()
				return
			}
			handler(nc, sub, err)
		})}
	if s.internal != nil {
		pub, _ := s.internal.PublicKey()
		opts = append(opts, nats.Nkey(pub, s.internal.Sign))
	}
	if o.OnLost != nil {
		opts = append(opts, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) {
			if !c.closing.Load() {
				o.OnLost()
			}
		}))
	}
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", name, err)
	}
	c.nc = nc
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
}

// forget drops a closed connection from the shutdown list.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown closes the in-process connections (which would otherwise keep
// trying to reconnect), then stops the server and waits for it.
func (s *Server) Shutdown() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Stats are the embedded server's figures.
type Stats struct {
	// Connections is how many clients are connected: the hub's own
	// in-process connections, agents and outside subscribers.
	Connections int `json:"connections"`
	// SlowConsumers counts the times the server cut off or dropped messages
	// for a client that did not read fast enough.
	SlowConsumers uint64 `json:"slow_consumers"`
	// MessagesIn and MessagesOut count messages received from and delivered
	// to clients.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
}

// Stats reads the server's figures.
func (s *Server) Stats() Stats {
	st := Stats{Connections: s.ns.NumClients(), SlowConsumers: uint64(max(s.ns.NumSlowConsumers(), 0))}
	if v, err := s.ns.Varz(nil); err == nil {
		st.MessagesIn, st.MessagesOut = uint64(max(v.InMsgs, 0)), uint64(max(v.OutMsgs, 0))
	}
	return st
}

// Run is the bus as an actor: it holds the server until ctx is done, then shuts
// it down. It is stopped last.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Shutdown()
	return nil
}

// DialOnce connects to a remote bus for a tool (the load generator): it
// fails at once when the bus cannot be reached, and then reconnects as Dial
// does.
func DialOnce(urls, name string) (*Conn, error) {
	nc, err := nats.Connect(urls, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectBufSize(64<<20))
	if err != nil {
		return nil, fmt.Errorf("bus: dial %s: %w", urls, err)
	}
	return &Conn{nc: nc}, nil
}

func errorHandler(log *slog.Logger) nats.ErrHandler {
	// Slow-consumer errors arrive once per dropped batch; count, do not log each.
	var slow atomic.Uint64
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			if n := slow.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th ... time
				subj := ""
				if sub != nil {
					subj = sub.Subject
				}
				log.Warn("bus slow consumer: messages dropped", "subject", subj, "times", n)
			}
			return
		}
		log.Error("bus error", "err", err)
	}
}

// logAdapter routes nats-server's log into slog. Fatalf is logged as an error
// instead of exiting the process; ReadyForConnections then reports the failure.
type logAdapter struct{ log *slog.Logger }

// Noticef goes to debug: nats-server's notices are its multi-line start-up
// banner and routine lifecycle lines; ringwatch logs its own summary.
func (l *logAdapter) Noticef(f string, a ...any) { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l *logAdapter) Warnf(f string, a ...any)   { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l *logAdapter) Fatalf(f string, a ...any)  { l.log.Error(fmt.Sprintf(f, a...), "fatal", true) }
func (l *logAdapter) Errorf(f string, a ...any)  { l.log.Error(fmt.Sprintf(f, a...)) }
func (l *logAdapter) Debugf(f string, a ...any)  { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l *logAdapter) Tracef(f string, a ...any)  { l.log.Debug(fmt.Sprintf(f, a...), "trace", true) }

var _ server.Logger = (*logAdapter)(nil)

// hostPort splits one of the server's listen addresses (what names it in
// errors); port 0 is allowed only where zeroOK.
func hostPort(what, addr string, zeroOK bool) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("bus: %s address %q: %w", what, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		return "", 0, fmt.Errorf("bus: %s address %q: bad port", what, addr)
	}
	return host, p, nil
}

// applyCluster makes the server a cluster node when opts say so.
func applyCluster(sopts *server.Options, opts Options) error {
	c := opts.Cluster
	if c.Addr == "" {
		return nil
	}
	if opts.Addr == "" {
		return errors.New("bus: a cluster node needs a client address too (nats-server forms no routes without one)")
	}
	host, p, err := hostPort("cluster", c.Addr, false)
	if err != nil {
		return err
	}
	sopts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: p, ConnectBackoff: true}
	var routes []string
	for _, r := range c.Routes {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !strings.Contains(r, "://") {
			r = "nats-route://" + r
		}
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return fmt.Errorf("bus: route %q: not host:port or nats-route://host:port", r)
		}
		if c.Secret != "" {
			u.User = url.UserPassword(routeUser, c.Secret)
		}
		routes = append(routes, u.String())
	}
	sopts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	if c.Secret != "" {
		sopts.Cluster.Username, sopts.Cluster.Password = routeUser, c.Secret
	}
	return nil
}
