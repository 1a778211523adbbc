package bus_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// freeAddr is a TCP address on 127.0.0.1 nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	_ = l.Close()
	return a
}

// collect subscribes to subject on srv and returns what arrived so far.
func collect(t *testing.T, srv *bus.Server, subject string) func() []string {
	t.Helper()
	c := bustest.Conn(t, srv, "collector")
	var mu sync.Mutex
	var got []string
	if _, err := c.Subscribe(subject, func(m *bus.Msg) {
		mu.Lock()
		got = append(got, string(m.Data))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestOutboxKeepsWhatTheHubMissed: an agent started before its hub, and
// one whose hub goes away, keep their samples (the newest ones, within the
// buffer) and send them in order once the hub answers, logging each
// outage once with its counts.
func TestOutboxKeepsWhatTheHubMissed(t *testing.T) {
	addr := freeAddr(t)
	logs := &bustest.Writer{}
	ob, err := bus.DialOutbox(bus.OutboxOptions{URLs: "nats://" + addr, Name: "agent", Buffer: 5, Log: logs.Logger(), PingInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i := range 8 { // the hub is not there yet: 0-2 are dropped, 3-7 kept
		if err := ob.Publish("ringwatch.raw.edge.system_info", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if st := ob.Stats(); st.Waiting != 5 || st.Dropped != 3 {
		t.Fatalf("before the hub: %+v, want 5 waiting and 3 dropped", st)
	}
	start := func() *bus.Server {
		srv, err := bus.Start(bus.Options{Addr: addr, Log: bustest.Quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	got := collect(t, srv, "ringwatch.raw.>")
	bustest.Eventually(t, 15*time.Second, func() error {
		if g := strings.Join(got(), ","); g != "3,4,5,6,7" {
			return fmt.Errorf("the hub got %q, want the five newest in order", g)
		}
		return nil
	})
	bustest.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), "outage over") {
			return fmt.Errorf("no end of outage logged:\n%s", logs)
		}
		return nil
	})
	if !strings.Contains(logs.String(), "buffered=8 dropped=3") {
		t.Fatalf("the outage's counts:\n%s", logs)
	}
	if err := ob.Publish("ringwatch.raw.edge.system_info", []byte("8")); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if g := strings.Join(got(), ","); g != "3,4,5,6,7,8" {
			return fmt.Errorf("the hub got %q", g)
		}
		return nil
	})

	// The hub goes away and comes back on the same address, after it has
	// confirmed what it got (else the outbox would send 7 and 8 again):
	// Flush confirms at once, without waiting for bus.ConfirmEvery.
	if err := ob.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := ob.Stats(); st.Unconfirmed != 0 {
		t.Fatalf("%+v: not confirmed after a flush", st)
	}
	srv.Shutdown()
	bustest.Eventually(t, 10*time.Second, func() error {
		if strings.Count(logs.String(), "hub unreachable") < 2 {
			return fmt.Errorf("the second outage not noticed:\n%s", logs)
		}
		return nil
	})
	for i := 9; i < 12; i++ {
		if err := ob.Publish("ringwatch.raw.edge.system_info", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	srv = start()
	defer srv.Shutdown()
	got = collect(t, srv, "ringwatch.raw.>")
	bustest.Eventually(t, 15*time.Second, func() error {
		if g := strings.Join(got(), ","); g != "9,10,11" {
			return fmt.Errorf("after the hub came back it got %q", g)
		}
		return nil
	})
	bustest.Eventually(t, 5*time.Second, func() error {
		if n := strings.Count(logs.String(), "outage over"); n != 2 {
			return fmt.Errorf("%d outage lines, want one per outage:\n%s", n, logs)
		}
		return nil
	})
	if !strings.Contains(logs.String(), "buffered=3 dropped=0") {
		t.Fatalf("the second outage's counts:\n%s", logs)
	}
	if st := ob.Stats(); st.Outages != 2 || st.Dropped != 3 || st.Buffered != 11 || st.Waiting != 0 {
		t.Fatalf("totals %+v", st)
	}
}

// TestSecureServerKeepsItsOwnIdentityInProcess: with authentication on,
// the hub's in-process connections work, and nobody without a declared
// credential gets in over TCP.
func TestSecureServerKeepsItsOwnIdentityInProcess(t *testing.T) {
	srv, err := bus.Start(bus.Options{Addr: "127.0.0.1:0", Log: bustest.Quiet(), Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	c := bustest.Conn(t, srv, "inside")
	if err := c.Publish("ringwatch.raw.x.system_info", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("in-process with authentication on: %v", err)
	}
	if nc, err := nats.Connect("nats://"+srv.Addr(), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("an anonymous TCP client was admitted")
	}
	if err := srv.SetIdentities([]bus.Identity{{Host: "web-01", Nkey: "bogus"}}); err == nil || !strings.Contains(err.Error(), "not a public user nkey") {
		t.Fatalf("a bad nkey: %v", err)
	}
}

func TestValidateIdentities(t *testing.T) {
	_, pub, err := bus.NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bus.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ids  []bus.Identity
		want string
	}{
		{[]bus.Identity{{Host: "a", Nkey: pub}, {Reader: "r", User: "u", PasswordHash: hash}}, ""},
		{[]bus.Identity{{Nkey: pub}}, "needs a host"},
		{[]bus.Identity{{Host: "a", Reader: "r", Nkey: pub}}, "not several"},
		{[]bus.Identity{{Site: "s", Nkey: pub}}, "lists the hosts"},
		{[]bus.Identity{{Host: "a", Hosts: []string{"b"}, Nkey: pub}}, "only a site lists hosts"},
		{[]bus.Identity{{Host: "a"}}, "no credential"},
		{[]bus.Identity{{Host: "a", Nkey: pub, User: "u"}}, "not both"},
		{[]bus.Identity{{Host: "a", User: "u", PasswordHash: "plain"}}, "not a bcrypt hash"},
		{[]bus.Identity{{Host: "a", Nkey: pub}, {Host: "b", Nkey: pub}}, "already agent a's"},
		{[]bus.Identity{{Host: "Web 01", User: "u1", PasswordHash: hash}, {Host: "web-01", User: "u2", PasswordHash: hash}}, `host "web-01" is already agent Web 01's`},
	} {
		err := bus.ValidateIdentities(c.ids)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.ids, err, c.want)
		}
	}
}

// freezer is a TCP proxy in front of a hub that can behave as a stopped
// hub process (SIGSTOP): connections stay open, bytes sent are taken and
// never processed, nothing comes back. Thawing cuts the connections that
// were frozen, as a hub that resumes finds its clients gone; new ones pass.
type freezer struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, target: target}
	t.Cleanup(func() {
		_ = l.Close()
		f.cut()
	})
	go f.accept()
	return f
}

func (f *freezer) accept() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", f.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, s)
		f.mu.Unlock()
		go f.pipe(s, c)
		go f.pipe(c, s)
	}
}

// pipe copies from src to dst, swallowing what arrives while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if !frozen {
			if _, err := dst.Write(buf[:n]); err != nil {
				_ = src.Close()
				return
			}
		}
	}
}

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }

func (f *freezer) thaw() {
	f.cut()
	f.mu.Lock()
	f.frozen = false
	f.mu.Unlock()
}

func (f *freezer) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}

// TestOutboxSendsAgainWhatAStoppedHubSwallowed: a hub that stops (rather
// than going away) takes the samples sent before the agent notices, and
// loses them. The outbox kept them unconfirmed and sends them again on the
// next connection, in order, so the hub gets every sample once.
func TestOutboxSendsAgainWhatAStoppedHubSwallowed(t *testing.T) {
	srv, err := bus.Start(bus.Options{Addr: "127.0.0.1:0", Log: bustest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	got := collect(t, srv, "ringwatch.raw.>")
	proxy := newFreezer(t, srv.Addr())
	logs := &bustest.Writer{}
	ob, err := bus.DialOutbox(bus.OutboxOptions{URLs: "nats://" + proxy.l.Addr().String(), Name: "agent", Buffer: 100,
		Log: logs.Logger(), PingInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if err := ob.Publish("ringwatch.raw.edge.system_info", []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(w string) {
		t.Helper()
		bustest.Eventually(t, 15*time.Second, func() error {
			if g := strings.Join(got(), ","); g != w {
				return fmt.Errorf("the hub got %q, want %q", g, w)
			}
			return nil
		})
	}
	publish(0, 2)
	want("0,1")
	if err := ob.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := ob.Stats(); st.Unconfirmed != 0 {
		t.Fatalf("%+v: not confirmed after a flush", st)
	}

	proxy.freeze()
	publish(2, 5) // the connection still looks alive: sent, and swallowed
	if st := ob.Stats(); st.Unconfirmed != 3 || st.Waiting != 0 {
		t.Fatalf("%+v, want 3 sent and unconfirmed", st)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "hub unreachable") {
			return fmt.Errorf("the stopped hub not noticed:\n%s", logs)
		}
		return nil
	})
	publish(5, 7)
	proxy.thaw()
	want("0,1,2,3,4,5,6")
	if st := ob.Stats(); st.Resent != 3 || st.Dropped != 0 {
		t.Fatalf("%+v, want the 3 swallowed sent again", st)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), "buffered=2 dropped=0 resent=3") {
			return fmt.Errorf("the outage's counts:\n%s", logs)
		}
		return nil
	})
}
