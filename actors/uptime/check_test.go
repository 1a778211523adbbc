package uptime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// http.Transport keeps idle keep-alive connections' goroutines until they expire.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

func mustRoutes(t *testing.T, rs ...Route) []Route {
	t.Helper()
	out, err := Validate(rs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateNamesTheRouteAndField(t *testing.T) {
	for _, c := range []struct {
		routes []Route
		want   string
	}{
		{[]Route{{URL: "http://a"}}, `route 1: alias: required`},
		{[]Route{{Alias: "a", URL: "http://a"}, {Alias: "a", URL: "http://b"}}, `route "a": alias: duplicate`},
		{[]Route{{Alias: "a", URL: "ftp://a"}}, `route "a": url: scheme "ftp" is not http, https or tcp`},
		{[]Route{{Alias: "a", URL: "not a url"}}, `route "a": url: "not a url" is not a URL`},
		{[]Route{{Alias: "a", URL: "tcp://db"}}, `route "a": url: tcp URLs need a port`},
		{[]Route{{Alias: "a", URL: "http://a", Interval: Duration(5 * time.Second), Timeout: Duration(5 * time.Second)}}, `route "a": timeout: 5s must be above 0 and below the interval (5s)`},
		{[]Route{{Alias: "a", URL: "http://a", Interval: Duration(time.Millisecond)}}, `route "a": interval: 1ms is below the minimum`},
		{[]Route{{Alias: "a", URL: "http://a", ExpectStatus: "2xx"}}, `route "a": expect_status: "2xx" is not a status code`},
		{[]Route{{Alias: "a", URL: "tcp://db:5432", ExpectBody: "x"}}, `route "a": expect_status: tcp routes have no status`},
	} {
		_, err := Validate(c.routes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.routes, err, c.want)
		}
	}
	rs := mustRoutes(t, Route{Alias: "a", URL: "http://a"}, Route{Alias: "b", URL: "http://b", Interval: Duration(2 * time.Second)})
	if rs[0].Interval != Duration(5*time.Second) || rs[0].Timeout != Duration(4*time.Second) || rs[1].Timeout != Duration(1600*time.Millisecond) {
		t.Fatalf("defaults: %+v %+v", rs[0], rs[1])
	}
}

func TestCheckStatuses(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/moved":
			http.Redirect(w, r, "/", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "all systems go")
		}
	}))
	defer ok.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "secure") }))
	defer tlsSrv.Close()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()
	tcpUp, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tcpUp.Close()
	go func() {
		for {
			c, err := tcpUp.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	c := NewChecker()
	defer c.Close()
	for _, tc := range []struct {
		route  Route
		status string
		reason string
	}{
		{Route{Alias: "ok", URL: ok.URL}, Healthy, ""},
		{Route{Alias: "redirect", URL: ok.URL + "/moved"}, Healthy, ""},
		{Route{Alias: "loop", URL: ok.URL + "/loop"}, Unhealthy, "redirects"},
		{Route{Alias: "status", URL: ok.URL + "/teapot"}, Unhealthy, "status 418, want 200-399"},
		{Route{Alias: "status-ok", URL: ok.URL + "/teapot", ExpectStatus: "418"}, Healthy, ""},
		{Route{Alias: "body", URL: ok.URL, ExpectBody: "go"}, Healthy, ""},
		{Route{Alias: "body-missing", URL: ok.URL, ExpectBody: "nope"}, Unhealthy, `body does not contain "nope"`},
		{Route{Alias: "refused", URL: "http://" + refusedAddr}, Unhealthy, "connection refused"},
		{Route{Alias: "tcp-refused", URL: "tcp://" + refusedAddr}, Unhealthy, "connection refused"},
		{Route{Alias: "tcp-up", URL: "tcp://" + tcpUp.Addr().String()}, Healthy, ""},
		{Route{Alias: "dns", URL: "http://no-such-host.invalid"}, Error, "no-such-host.invalid"},
		{Route{Alias: "tls-untrusted", URL: tlsSrv.URL}, Error, "certificate"},
		{Route{Alias: "tls-skip", URL: tlsSrv.URL, TLSSkipVerify: true}, Healthy, ""},
	} {
		r := mustRoutes(t, tc.route)[0]
		res := c.Check(context.Background(), r)
		if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: %s (%s), want %s with %q", r.Alias, res.Status, res.Reason, tc.status, tc.reason)
		}
		if res.Status == Healthy && res.Latency <= 0 {
			t.Errorf("%s: latency %s", r.Alias, res.Latency)
		}
		if r.Alias == "tls-skip" && res.CertExpiry.Before(time.Now()) {
			t.Errorf("tls-skip: certificate expiry %v not recorded", res.CertExpiry)
		}
	}
}

// TestSlowRouteIsUnhealthyAndNeverOverlaps: a server slower than the
// timeout makes the route unhealthy, and the monitor never has two checks of
// it in flight.
func TestSlowRouteIsUnhealthyAndNeverOverlaps(t *testing.T) {
	var inFlight, maxInFlight, calls atomic.Int64
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		calls.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done(): // the checker gave up and closed the connection
		case <-time.After(time.Second): // slower than the 150 ms timeout
		}
	}))
	defer slow.Close()
	defer close(release)
	rs := mustRoutes(t, Route{Alias: "slow", URL: slow.URL, Interval: Duration(200 * time.Millisecond), Timeout: Duration(150 * time.Millisecond)})
	m := NewMonitor(rs, bustest.Quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	bustest.Eventually(t, 10*time.Second, func() error {
		if n := m.Checks(); n < 5 {
			return fmt.Errorf("%d checks ran, want 5", n)
		}
		return nil
	})
	cancel()
	<-done
	s, _ := m.Poll(context.Background(), nil)
	st := s.(Sample).Statuses["slow"]
	if st.Status != Unhealthy || !strings.Contains(st.Reason, "deadline exceeded") {
		t.Fatalf("slow route: %+v", st)
	}
	if maxInFlight.Load() > 1 {
		t.Fatalf("%d checks of one route overlapped (the server saw that many at once)", maxInFlight.Load())
	}
}

// TestRemovedRouteIsUnknownForAWhileThenGone: a route removed by a reload is
// reported unknown, then dropped once RemovedFor has passed.
func TestRemovedRouteIsUnknownForAWhileThenGone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	m := NewMonitor(mustRoutes(t, Route{Alias: "gone", URL: srv.URL}), bustest.Quiet())
	m.RemovedFor = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	statusOf := func() (string, error) {
		s, err := m.Poll(context.Background(), nil)
		if err != nil {
			return "", err
		}
		return s.(Sample).Statuses["gone"].Status, nil
	}
	bustest.Eventually(t, 5*time.Second, func() error { // running, with the route
		if m.Checks() == 0 {
			return errors.New("no check ran")
		}
		return nil
	})
	m.Reload(nil)
	bustest.Eventually(t, 5*time.Second, func() error {
		if st, _ := statusOf(); st != Unknown {
			return fmt.Errorf("the removed route is %q, want unknown", st)
		}
		return nil
	})
	bustest.Eventually(t, 5*time.Second, func() error {
		if _, err := statusOf(); !errors.Is(err, actors.ErrNoSample) {
			return fmt.Errorf("the removed route is still reported after RemovedFor: %v", err)
		}
		return nil
	})
}
