package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// secureHub is a hub process with NATS on TCP and a config file.
type secureHub struct {
	*child
	base, natsAddr, config string
}

func startSecureHub(t *testing.T, config string, extra ...string) *secureHub {
	t.Helper()
	h := &secureHub{base: "http://" + freePort(t), natsAddr: freePort(t), config: config}
	args := append([]string{"serve", "--config", config, "--data-dir", t.TempDir(), "--host", "hub",
		"--http-addr", strings.TrimPrefix(h.base, "http://"), "--nats-addr", h.natsAddr}, extra...)
	h.child = startChild(t, nil, args...)
	bustest.Eventually(t, 20*time.Second, func() error {
		if code, body := httpGet(t, h.base+"/healthz"); code == 0 {
			return fmt.Errorf("hub not answering yet: %s; logs:\n%s", body, h.logs)
		}
		return nil
	})
	return h
}

// busClient is a NATS client of the hub's port that records the errors
// the server sends it (permission violations arrive asynchronously).
type busClient struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

func dialBus(t *testing.T, url string, opts ...nats.Option) (*busClient, error) {
	t.Helper()
	c := &busClient{}
	opts = append(opts, nats.Timeout(2*time.Second), nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err.Error())
		c.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	t.Cleanup(nc.Close)
	return c, nil
}

// refused waits until the server has told the client that it may not
// publish or subscribe on subject.
func (c *busClient) refused(t *testing.T, what, subject string) {
	t.Helper()
	want := fmt.Sprintf("permissions violation for %s to %q", what, subject)
	bustest.Eventually(t, 5*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.errs {
			if strings.Contains(strings.ToLower(e), strings.ToLower(want)) {
				return nil
			}
		}
		return fmt.Errorf("no %q among the client's errors %q", want, c.errs)
	})
}

func seedOpt(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func sample(ts int64, cpu float64) []byte {
	return fmt.Appendf(nil, `{"timestamp":%d,"cpu_average":%g}`, ts, cpu)
}

// TestSecureBusAdmitsOnlyWhatEachMayDo is the attack of the secured-bus
// issue, tried again: no credential cannot connect; web-01's credential
// cannot speak for web-02 or publish closed buckets; a reader can
// subscribe to raw and aggregated samples and publish nothing; an agent
// with a user and password (a bcrypt hash on the hub) is admitted too.
func TestSecureBusAdmitsOnlyWhatEachMayDo(t *testing.T) {
	dir := t.TempDir()
	web01Seed, web01 := nkeyFor(t, dir, "web-01")
	readerSeed, reader := nkeyFor(t, dir, "dash")
	hash, err := bus.HashPassword("s3cret web-03")
	if err != nil {
		t.Fatal(err)
	}
	cfg := hubConfig(t, dir, "agents:\n"+agentEntry("web-01", web01)+
		"  - host: web-03\n    user: web-03\n    password_hash: \""+hash+"\"\nreaders:\n"+readerEntry("dash", reader))
	h := startSecureHub(t, cfg)
	url := "nats://" + h.natsAddr

	if _, err := dialBus(t, url); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("a client with no credential: %v, want an authorization violation", err)
	}

	rd, err := dialBus(t, url, seedOpt(t, readerSeed))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	for _, subj := range []string{"ringwatch.raw.>", "ringwatch.agg.>"} {
		if _, err := rd.nc.Subscribe(subj, func(m *nats.Msg) {
			mu.Lock()
			got = append(got, m.Subject)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rd.nc.Subscribe(">", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	rd.refused(t, "subscription", ">")
	if err := rd.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	web, err := dialBus(t, url, seedOpt(t, web01Seed))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for _, m := range []struct{ subject, data string }{
		{"ringwatch.raw.web-02.system_info", string(sample(now, 99.99))},
		{"ringwatch.agg.web-01.system_info.5m", `{"host":"web-01"}`},
		{"ringwatch.raw.web-01.system_info", string(sample(now, 12.5))},
	} {
		if err := web.nc.Publish(m.subject, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := web.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	web.refused(t, "publish", "ringwatch.raw.web-02.system_info")
	web.refused(t, "publish", "ringwatch.agg.web-01.system_info.5m")
	if err := rd.nc.Publish("ringwatch.raw.web-04.system_info", sample(now, 1)); err != nil {
		t.Fatal(err)
	}
	rd.refused(t, "publish", "ringwatch.raw.web-04.system_info")

	w3, err := dialBus(t, url, nats.UserInfo("web-03", "s3cret web-03"))
	if err != nil {
		t.Fatalf("web-03 with its password: %v", err)
	}
	if _, err := dialBus(t, url, nats.UserInfo("web-03", "wrong")); err == nil {
		t.Fatal("web-03 with a wrong password was admitted")
	}
	if err := w3.nc.Publish("ringwatch.raw.web-03.system_info", sample(now, 3)); err != nil {
		t.Fatal(err)
	}
	_ = w3.nc.Flush()

	// web-01's and web-03's own samples arrive; they were published after
	// the refused ones on the same connections, which the server handles in
	// order: once they are served, the refused ones would have been too.
	bustest.Eventually(t, 5*time.Second, func() error {
		hosts := hostsOf(t, h.base)
		if !slices.Contains(hosts, "web-01") || !slices.Contains(hosts, "web-03") {
			return fmt.Errorf("hosts %v", hosts)
		}
		return nil
	})
	if hosts := hostsOf(t, h.base); slices.Contains(hosts, "web-02") || slices.Contains(hosts, "web-04") {
		t.Fatalf("a refused sample made it: hosts %v", hosts)
	}
	code, body := httpGet(t, h.base+"/api/v1/metrics/system_info?host=web-01")
	if code != 200 || !strings.Contains(body, `"cpu_average":12.5`) {
		t.Fatalf("web-01's latest: %d %s", code, body)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(got, "ringwatch.raw.web-01.system_info") || !slices.Contains(got, "ringwatch.raw.web-03.system_info") {
			return fmt.Errorf("the reader got %v", got)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for _, s := range got {
		if strings.Contains(s, "web-02") || strings.Contains(s, "web-04") {
			t.Fatalf("the reader got a refused sample: %v", got)
		}
	}
}

// TestNATSAddrWithNobodyDeclaredRefusesToStart: an open port must be asked
// for.
func TestNATSAddrWithNobodyDeclaredRefusesToStart(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0"},
		func(string) string { return "" }, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no agent or reader is declared") ||
		!strings.Contains(stderr.String(), "ringwatch agent-key <host>") || !strings.Contains(stderr.String(), "--nats-insecure") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

// TestSecureBusTLS: a TLS-only port refuses plain TCP; with a CA required,
// a client without a certificate is refused and one with it admitted.
func TestSecureBusTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t, dir)
	seed, public := nkeyFor(t, dir, "web-01")
	cfg := hubConfig(t, dir, "agents:\n"+agentEntry("web-01", public))

	tlsOnly := startSecureHub(t, cfg, "--nats-tls-cert", pki.serverCert, "--nats-tls-key", pki.serverKey)
	if _, err := dialBus(t, "nats://"+tlsOnly.natsAddr, seedOpt(t, seed)); err == nil {
		t.Fatal("a plain TCP client connected to a TLS-only port")
	}
	if _, err := dialBus(t, "tls://"+tlsOnly.natsAddr, seedOpt(t, seed), nats.RootCAs(pki.ca)); err != nil {
		t.Fatalf("a TLS client: %v", err)
	}

	mutual := startSecureHub(t, cfg, "--nats-tls-cert", pki.serverCert, "--nats-tls-key", pki.serverKey, "--nats-tls-ca", pki.ca)
	if _, err := dialBus(t, "tls://"+mutual.natsAddr, seedOpt(t, seed), nats.RootCAs(pki.ca)); err == nil {
		t.Fatal("a client without a certificate connected where one is required")
	}
	c, err := dialBus(t, "tls://"+mutual.natsAddr, seedOpt(t, seed), nats.RootCAs(pki.ca), nats.ClientCert(pki.clientCert, pki.clientKey))
	if err != nil {
		t.Fatalf("a client with its certificate: %v", err)
	}
	if err := c.nc.Publish("ringwatch.raw.web-01.system_info", sample(time.Now().Unix(), 7)); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if hosts := hostsOf(t, mutual.base); !slices.Contains(hosts, "web-01") {
			return fmt.Errorf("hosts %v", hosts)
		}
		return nil
	})

	// The agent itself, over mutual TLS, as a user runs it.
	agent := startChild(t, nil, "agent", "--bus", "tls://"+mutual.natsAddr, "--host", "web-01", "--data-dir", t.TempDir(),
		"--nkey-seed", seed, "--tls-ca", pki.ca, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey)
	bustest.Eventually(t, 10*time.Second, func() error {
		code, body := httpGet(t, mutual.base+"/api/v1/metrics/system_info?host=web-01")
		if code != 200 || !strings.Contains(body, `"memory"`) {
			return fmt.Errorf("the agent's sample over TLS: %d %.100s; agent logs:\n%s", code, body, agent.logs)
		}
		return nil
	})
}

// TestSIGHUPReloadsIdentities: a new agent is admitted after SIGHUP, a
// removed one is cut off, and the connections of those that stay are kept.
func TestSIGHUPReloadsIdentities(t *testing.T) {
	dir := t.TempDir()
	seed1, web01 := nkeyFor(t, dir, "web-01")
	seed2, web02 := nkeyFor(t, dir, "web-02")
	readerSeed, reader := nkeyFor(t, dir, "dash")
	cfg := hubConfig(t, dir, "agents:\n"+agentEntry("web-01", web01)+"readers:\n"+readerEntry("dash", reader))
	h := startSecureHub(t, cfg)
	url := "nats://" + h.natsAddr

	rd, err := dialBus(t, url, seedOpt(t, readerSeed))
	if err != nil {
		t.Fatal(err)
	}
	w1, err := dialBus(t, url, seedOpt(t, seed1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialBus(t, url, seedOpt(t, seed2)); err == nil {
		t.Fatal("web-02 admitted before it was declared")
	}

	hubConfig(t, dir, "agents:\n"+agentEntry("web-02", web02)+"readers:\n"+readerEntry("dash", reader))
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(h.logs.String(), "agents and readers reloaded") {
			return fmt.Errorf("no reload logged:\n%s", h.logs)
		}
		return nil
	})
	if _, err := dialBus(t, url, seedOpt(t, seed2)); err != nil {
		t.Fatalf("web-02 after the reload: %v", err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if !w1.nc.IsClosed() {
			return fmt.Errorf("web-01, no longer declared, is still connected")
		}
		return nil
	})
	if !rd.nc.IsConnected() || rd.nc.Stats().Reconnects != 0 {
		t.Fatalf("the reader's connection was dropped by the reload: %v", rd.nc.Status())
	}

	// A config that does not hold together keeps the old identities.
	hubConfig(t, dir, "agents:\n  - host: web-09\n    nkey: not-a-key\n")
	_ = h.cmd.Process.Signal(syscall.SIGHUP)
	bustest.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(h.logs.String(), "agents and readers not reloaded; keeping the old ones") {
			return fmt.Errorf("no refusal logged:\n%s", h.logs)
		}
		return nil
	})
	if _, err := dialBus(t, url, seedOpt(t, seed2)); err != nil {
		t.Fatalf("web-02 after a bad reload: %v", err)
	}
}

// TestAgentKeepsItsDisplayName: an agent started as --host "My NAS"
// publishes as my-nas, and the hub shows it as "My NAS" where GoDoxy's web
// UI looks for the agent's name.
func TestAgentKeepsItsDisplayName(t *testing.T) {
	dir := t.TempDir()
	seed, pub := nkeyFor(t, dir, "my-nas")
	h := startSecureHub(t, hubConfig(t, dir, "agents:\n"+agentEntry("My NAS", pub)))
	startChild(t, nil, "agent", "--bus", "nats://"+h.natsAddr, "--host", "My NAS", "--data-dir", t.TempDir(), "--nkey-seed", seed)
	bustest.Eventually(t, 10*time.Second, func() error {
		if code, body := httpGet(t, h.base+"/api/v1/agent/list"); code != 200 || body != `[{"name":"My NAS","addr":"my-nas"}]` {
			return fmt.Errorf("agent list: %d %s", code, body)
		}
		return nil
	})
}
