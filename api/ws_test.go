package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus"
)

func TestSocketFirstFrameAtOnceThenOnlyOnChange(t *testing.T) {
	h := startHub(t, nil)
	start := twoSamples(h)
	paths := []string{
		"/api/v1/metrics/system_info",
		"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average",
		"/api/v1/metrics/system_info?period=1h&aggregate=disk_usage",
	}
	conns := make([]*websocket.Conn, len(paths))
	for i, path := range paths {
		conns[i] = h.mustDial(path + sep(path) + "interval=1s")
		got, err := read(t, conns[i], 2*time.Second)
		_, _, rest := h.get("GET", path)
		if err != nil || got != rest {
			t.Fatalf("%s first frame %q %v; REST says %q", path, got, err, rest)
		}
	}
	// Nothing changes: no frame on any of them for well over an interval
	// (the three wait together).
	quiet := make(chan string, len(paths))
	for i, c := range conns {
		go func() {
			if got, err := read(t, c, 2500*time.Millisecond); err == nil {
				quiet <- fmt.Sprintf("%s: a frame without a change: %s", paths[i], got)
				return
			}
			quiet <- ""
		}()
	}
	for range paths {
		if msg := <-quiet; msg != "" {
			t.Fatal(msg)
		}
	}
	// A change reaches the socket within an interval, identical to REST.
	c := h.mustDial("/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&interval=1s")
	if _, err := read(t, c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	h.sample("h1", start+2, 80)
	got, err := read(t, c, 3*time.Second)
	_, _, rest := h.get("GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average")
	if err != nil || got != rest || !strings.Contains(got, `"cpu_average":40`) {
		t.Fatalf("after a change: %q %v; REST %q", got, err, rest)
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

func TestTextPingGetsPong(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	c := h.mustDial("/api/v1/metrics/system_info")
	if _, err := read(t, c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if got, err := read(t, c, 2*time.Second); err != nil || got != "pong" {
			t.Fatalf("ping answered with %q %v", got, err)
		}
	}
}

func TestInvalidSocketRequestIsClosedWith1000AndTheReason(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	for path, reason := range map[string]string{
		"/api/v1/metrics/system_info?period=1m&aggregate=cpu_average":                  `invalid period "1m"`,
		"/api/v1/metrics/system_info?period=5m&aggregate=nope":                         `invalid aggregate "nope"`,
		"/api/v1/metrics/system_info?host=ghost":                                       `unknown host "ghost"`,
		"/api/v1/metrics/all_system_info?period=2h":                                    `invalid period "2h"`,
		"/api/v1/metrics/nosuchkind":                                                   `unknown metrics kind "nosuchkind"`,
		"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&limit=-1&offset=": `invalid limit "-1"`,
	} {
		c := h.mustDial(path)
		_, err := read(t, c, 3*time.Second)
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Code != websocket.CloseNormalClosure || !strings.Contains(ce.Text, reason) {
			t.Errorf("%s: %v, want close 1000 with %q", path, err, reason)
		}
	}
}

func TestSilentClientIsClosedAndAnsweringClientIsKept(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.PongWait = 600 * time.Millisecond; c.PingPeriod = 200 * time.Millisecond })
	twoSamples(h)
	// This client reads, so its library answers the server's pings: it stays.
	alive := h.mustDial("/api/v1/metrics/system_info")
	var aliveErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			_ = alive.SetReadDeadline(deadline)
			if _, _, err := alive.ReadMessage(); err != nil && time.Now().Before(deadline.Add(-50*time.Millisecond)) {
				aliveErr = err
				return
			}
		}
	})
	// This one neither reads nor writes: no pong, no ping. It is closed.
	silent := h.mustDial("/api/v1/metrics/system_info")
	waitFor(t, func() error {
		if n := h.stats().WebSockets.ClosedSilent; n != 1 {
			return fmt.Errorf("%d sockets closed for silence, want 1", n)
		}
		return nil
	})
	_ = silent.SetReadDeadline(time.Now().Add(2 * time.Second))
	var err error
	for err == nil {
		_, _, err = silent.ReadMessage() // the first frame, then the end
	}
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatalf("the silent socket is still open: %v", err)
	}
	wg.Wait()
	if aliveErr != nil {
		t.Fatalf("a client answering pings was closed: %v", aliveErr)
	}
}

func TestShutdownSends1001ToEverySocket(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	var conns []*websocket.Conn
	for _, p := range []string{"/api/v1/metrics/system_info", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average",
		"/api/v1/metrics/all_system_info", "/api/v1/stream?subject=ringwatch.raw.>"} {
		c := h.mustDial(p)
		conns = append(conns, c)
	}
	waitFor(t, func() error {
		if n := h.stats().WebSockets.Clients; n != 4 {
			return fmt.Errorf("%d open sockets", n)
		}
		return nil
	})
	results := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			for {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err := c.ReadMessage(); err != nil {
					results <- err
					return
				}
			}
		}()
	}
	h.stop()
	for range conns {
		if err := <-results; !isClose(err, websocket.CloseGoingAway) {
			t.Errorf("socket ended with %v, want close 1001", err)
		}
	}
}

func TestStalledReaderIsClosedWithoutDelayingOthers(t *testing.T) {
	h := startHub(t, func(c *api.Config) {
		c.WriteTimeout = 300 * time.Millisecond
		c.StreamQueue = 4096
		c.StreamBytes = 64 << 20
	})
	twoSamples(h)
	subject := "ringwatch.raw.big.toy"
	stalled := h.mustDial("/api/v1/stream?subject=" + subject) // never reads
	frames := h.relay(h.mustDial("/api/v1/stream?subject="+subject), subject)
	payload := strings.Repeat("x", 64<<10)
	const n = 300 // ~19 MB: far more than the stalled socket's buffers hold
	got := make(chan error, 1)
	go func() {
		for i := range n {
			msg, err := next(frames, 10*time.Second)
			if err != nil {
				got <- fmt.Errorf("message %d: %v", i, err)
				return
			}
			var f struct {
				Subject string `json:"subject"`
				Data    struct {
					I int `json:"i"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(msg), &f); err != nil || f.Data.I != i || f.Subject != subject {
				got <- fmt.Errorf("message %d out of order or mangled: %.80s %v", i, msg, err)
				return
			}
		}
		got <- nil
	}()
	for i := range n {
		h.publish(subject, fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, payload))
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() error {
		if c := h.stats().WebSockets.ClosedSlow; c != 1 {
			return fmt.Errorf("%d sockets closed as slow, want 1", c)
		}
		if o := h.stats().WebSockets.Clients; o != 1 {
			return fmt.Errorf("%d sockets open, want 1", o)
		}
		return nil
	})
	_ = stalled
}

func TestStreamRelaysEveryMessageInOrder(t *testing.T) {
	h := startHub(t, nil)
	frames := h.relay(h.mustDial("/api/v1/stream?subject=ringwatch.agg.*.toy.>"), "ringwatch.agg.probe.toy.5m")
	for i := range 500 {
		h.publish(fmt.Sprintf("ringwatch.agg.h%d.toy.5m", i%3), fmt.Sprintf(`{"n":%d}`, i))
	}
	h.publish("ringwatch.agg.h1.other.5m", `{"n":-1}`) // not subscribed
	h.publish("ringwatch.agg.h1.toy.5m", `not json`)
	for i := range 500 {
		msg, err := next(frames, 5*time.Second)
		want := fmt.Sprintf(`{"subject":"ringwatch.agg.h%d.toy.5m","data":{"n":%d}}`, i%3, i)
		if err != nil || msg != want {
			t.Fatalf("message %d: %q %v, want %q", i, msg, err, want)
		}
	}
	if msg, err := next(frames, 5*time.Second); err != nil || msg != `{"subject":"ringwatch.agg.h1.toy.5m","data":"not json"}` {
		t.Fatalf("a non-JSON payload: %q %v", msg, err)
	}
}

func TestAllSystemInfoSendsOneFramePerHostWithPeriodAndAggregate(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	start := time.Now().Unix() / 3 * 3
	h.sample("h2", start, 50)
	c := h.mustDial("/api/v1/metrics/all_system_info?period=5m&aggregate=cpu_average&interval=1s")
	frames := map[string]string{}
	for len(frames) < 2 {
		msg, err := read(t, c, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(msg), &m); err != nil || len(m) != 1 {
			t.Fatalf("frame %q is not one host", msg)
		}
		for host, body := range m {
			frames[host] = string(body)
		}
	}
	for _, host := range []string{"h1", "h2"} {
		_, _, rest := h.get("GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host="+host)
		if frames[host] != rest {
			t.Errorf("%s frame %s, REST %s", host, frames[host], rest)
		}
	}
	// Unchanged hosts send nothing more; a change sends that host only.
	h.sample("h2", start+1, 70)
	msg, err := read(t, c, 3*time.Second)
	if err != nil || !strings.HasPrefix(msg, `{"h2":{"total":`) || !strings.Contains(msg, `"cpu_average":60`) {
		t.Fatalf("after h2 changed: %q %v", msg, err)
	}
	if msg, err := read(t, c, 2500*time.Millisecond); err == nil {
		t.Fatalf("a frame without a change: %s", msg)
	}
}

// TestAllSystemInfoIgnoresHostSelectors: all_system_info covers every
// host, so a host, agent_name or agent_addr in its query (GoDoxy's web UI
// adds what it has) names nobody in particular: the socket opens and
// serves every host, whatever the name, instead of closing with "unknown
// host".
func TestAllSystemInfoIgnoresHostSelectors(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	h.sample("h2", time.Now().Unix()/3*3, 50)
	for _, sel := range []string{"host", "agent_name", "agent_addr"} {
		c := h.mustDial("/api/v1/metrics/all_system_info?interval=1s&" + sel + "=nope")
		hosts := map[string]bool{}
		for len(hosts) < 2 {
			msg, err := read(t, c, 3*time.Second)
			if err != nil {
				t.Fatalf("%s=nope: %v after %v", sel, err, hosts)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(msg), &m); err != nil {
				t.Fatalf("%s=nope: frame %q", sel, msg)
			}
			for host := range m {
				hosts[host] = true
			}
		}
		if !hosts["h1"] || !hosts["h2"] {
			t.Fatalf("%s=nope: frames for %v, want h1 and h2", sel, hosts)
		}
		_ = c.Close()
	}
}

func TestOriginAndTokenOnSockets(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.Token = "tok"; c.AllowedOrigins = []string{"https://dash.example"} })
	twoSamples(h)
	path := "/api/v1/metrics/system_info?token=tok"
	for _, c := range []struct {
		origin string
		code   int
	}{
		{"", 101}, {"http://127.0.0.1:9999", 101}, {"https://dash.example", 101},
		{"https://evil.example", 403}, {"null", 403},
	} {
		hd := []string{}
		if c.origin != "" {
			hd = []string{"Origin", c.origin}
		}
		conn, resp, err := h.dial(path, hd...)
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		if code != c.code {
			t.Errorf("origin %q: %d %v, want %d", c.origin, code, err, c.code)
		}
		if conn != nil {
			conn.Close()
		}
	}
	if _, resp, _ := h.dial("/api/v1/metrics/system_info"); resp == nil || resp.StatusCode != 401 {
		t.Errorf("socket without a token: %v", resp)
	}
	if conn, resp, err := h.dial("/api/v1/metrics/system_info", "Authorization", "Bearer tok"); err != nil || resp.StatusCode != 101 {
		t.Errorf("socket with a bearer token: %v", err)
	} else {
		conn.Close()
	}
}

// TestManySocketsOnOneQueryShareTheWork: many sockets on one query cost one
// computation per change, not one per socket.
func TestManySocketsOnOneQueryShareTheWork(t *testing.T) {
	h := startHub(t, nil)
	start := twoSamples(h)
	const n = 50
	var conns []*websocket.Conn
	for range n {
		c := h.mustDial("/api/v1/metrics/system_info?period=5m&aggregate=cpu_average")
		if _, err := read(t, c, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	before := h.srv.Computations()
	h.sample("h1", start+2, 90)
	for _, c := range conns {
		if msg, err := read(t, c, 3*time.Second); err != nil || !strings.Contains(msg, `"cpu_average":43.`) {
			t.Fatalf("%q %v", msg, err)
		}
	}
	if got := h.srv.Computations() - before; got != 1 {
		t.Fatalf("%d computations for %d sockets after one change, want 1", got, n)
	}
}

// TestBeforeTheFirstSample: a dashboard that connects before the hub's first
// sample gets null (REST and WebSocket alike), then the sample when it comes;
// it is not turned away as an unknown host.
func TestBeforeTheFirstSample(t *testing.T) {
	h := startHub(t, nil)
	code, _, body := h.get("GET", "/api/v1/metrics/system_info")
	if code != 200 || body != "null" {
		t.Fatalf("REST before the first sample: %d %s", code, body)
	}
	code, _, body = h.get("GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average")
	if code != 200 || body != `{"total":0,"data":[]}` {
		t.Fatalf("REST period before the first sample: %d %s", code, body)
	}
	c := h.mustDial("/api/v1/metrics/system_info?interval=1s")
	if msg, err := read(t, c, 2*time.Second); err != nil || msg != "null" {
		t.Fatalf("first frame %q %v, want null", msg, err)
	}
	h.sample("h1", time.Now().Unix(), 42)
	if msg, err := read(t, c, 3*time.Second); err != nil || !strings.Contains(msg, `"cpu_average":42`) {
		t.Fatalf("after the first sample: %q %v", msg, err)
	}
}

// TestStreamSocketBoundedInBytes: a stream socket that does not read while
// one-megabyte messages flow is closed with 1013 once its byte bound is
// reached (long before its frame bound), and counted; the bus keeps nothing
// for it afterwards.
func TestStreamSocketBoundedInBytes(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.StreamBytes = 4 << 20; c.StreamQueue = 4096; c.WriteTimeout = time.Minute })
	subject := "ringwatch.raw.big.toy"
	idle := h.mustDial("/api/v1/stream?subject=" + subject)
	frames := h.relay(h.mustDial("/api/v1/stream?subject="+subject), subject) // a reader beside it
	payload := strings.Repeat("z", 1<<20-100)
	for i := range 40 {
		h.publish(subject, fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, payload))
		if _, err := next(frames, 10*time.Second); err != nil { // the reader keeps up
			t.Fatalf("the reader, message %d: %v", i, err)
		}
		if h.stats().WebSockets.ClosedSlow > 0 {
			break
		}
	}
	waitFor(t, func() error {
		if n := h.stats().WebSockets.ClosedSlow; n < 1 {
			return fmt.Errorf("%d sockets closed as slow", n)
		}
		return nil
	})
	var err error
	for err == nil {
		_, err = read(t, idle, 10*time.Second) // what was sent before the close, then the close
	}
	if !isClose(err, websocket.CloseTryAgainLater) {
		t.Fatalf("the idle socket ended with %v, want 1013", err)
	}
	// The handler counts the socket gone once it has returned, just after
	// the close frame went out.
	waitFor(t, func() error {
		if st := h.stats().WebSockets; st.ClosedSlow != 1 || st.Clients != 1 {
			return fmt.Errorf("websockets %+v: want only the idle socket closed, the reader still open", st)
		}
		return nil
	})
}

// TestAllSystemInfoWithManyHosts: with 500 hosts publishing 8 KB samples
// every second, an all_system_info socket gets a frame for every host
// within two intervals; one that stops reading for three intervals (12 MB
// of frames, more than the connection's buffers hold with the client's
// receive buffer at 64 KB) is not closed, and when it reads again it gets
// each host's newest frame, not one per host per interval missed.
func TestAllSystemInfoWithManyHosts(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.PongWait = time.Minute; c.WriteTimeout = time.Minute })
	const hosts = 500
	pad := strings.Repeat("p", 8000)
	round := func(ts int64) {
		for i := range hosts {
			_ = h.pub.Publish(fmt.Sprintf("ringwatch.raw.m%04d.system_info", i),
				fmt.Appendf(nil, `{"timestamp":%d,"cpu_average":%d,"pad":"%s"}`, ts, i, pad))
		}
		_ = h.pub.Flush()
	}
	ts := time.Now().Unix()
	round(ts)
	waitFor(t, func() error {
		if n := len(h.p.AllLatest()); n < hosts {
			return fmt.Errorf("%d hosts ingested", n)
		}
		return nil
	})
	dialer := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	c, _, err := dialer.Dial(h.ws+"/api/v1/metrics/all_system_info?interval=1s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[string]bool{}
	deadline := time.Now().Add(2 * time.Second)
	for len(seen) < hosts {
		msg, err := read(t, c, time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d hosts: %v", len(seen), err)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(msg), &m) != nil || len(m) != 1 {
			t.Fatalf("frame %q", msg)
		}
		for host := range m {
			seen[host] = true
		}
	}
	// The socket stops reading while every host changes three times.
	for r := int64(1); r <= 3; r++ {
		round(ts + r)
		waitFor(t, func() error {
			if l := h.p.Latest("m0499", "system_info"); l == nil || l.Time != ts+r {
				return fmt.Errorf("round %d not ingested", r)
			}
			return nil
		})
		tick := h.stats().Time // an interval passes: the feed marks every host again
		waitFor(t, func() error {
			if h.stats().Time < tick+2 {
				return fmt.Errorf("waiting for the feed's next round")
			}
			return nil
		})
	}
	frames, newest := 0, map[string]string{}
	for {
		msg, err := read(t, c, 1500*time.Millisecond)
		if err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				break // quiet: caught up
			}
			t.Fatalf("the slow socket ended with %v after %d frames", err, frames)
		}
		frames++
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(msg), &m)
		for host, body := range m {
			newest[host] = string(body)
		}
	}
	if frames >= 3*hosts {
		t.Fatalf("%d frames after three missed intervals of %d hosts: the backlog was not newest-per-host", frames, hosts)
	}
	if !strings.Contains(newest["m0499"], fmt.Sprintf(`"timestamp":%d`, ts+3)) {
		t.Fatalf("m0499's last frame is not its newest sample: %.80s", newest["m0499"])
	}
}

// TestGoDoxyWebUIEdges: an interval GoDoxy's web UI may send that cannot
// be used (abc, 5 without a unit, -5s) means 1 s, as in GoDoxy, instead of
// a closed socket the UI never retries; the csrf.<token> subprotocol it asks
// for is echoed; all_system_info over plain HTTP answers GoDoxy's own
// message.
func TestGoDoxyWebUIEdges(t *testing.T) {
	h := startHub(t, nil)
	ts := twoSamples(h) + 1
	for i, iv := range []string{"abc", "5", "-5s", "48h"} {
		c := h.mustDial("/api/v1/metrics/system_info?interval=" + iv)
		if msg, err := read(t, c, 2*time.Second); err != nil || !strings.Contains(msg, `"cpu_average"`) {
			t.Fatalf("interval=%s: first frame %q %v", iv, msg, err)
		}
		h.sample("h1", ts+int64(i)+1, float64(70+i)) // newer than the last: it becomes the latest
		if msg, err := read(t, c, 3*time.Second); err != nil || !strings.Contains(msg, fmt.Sprintf(`"cpu_average":%d`, 70+i)) {
			t.Fatalf("interval=%s: no frame at 1 s after a change: %q %v", iv, msg, err)
		}
		_ = c.Close()
	}
	// The web UI asks for the csrf.<token> subprotocol when it has a
	// godoxy_csrf cookie; a browser fails a handshake that does not echo it.
	for _, path := range []string{"/api/v1/metrics/system_info?interval=1s", "/api/v1/metrics/all_system_info?interval=1s", "/api/v1/metrics/uptime?period=1h"} {
		c, resp, err := h.dial(path, "Sec-WebSocket-Protocol", "csrf.abc123")
		if err != nil {
			t.Fatalf("%s with csrf.abc123: %v", path, err)
		}
		if got := c.Subprotocol(); got != "csrf.abc123" || resp.Header.Get("Sec-WebSocket-Protocol") != "csrf.abc123" {
			t.Fatalf("%s: subprotocol %q, want csrf.abc123 echoed", path, got)
		}
		if msg, err := read(t, c, 2*time.Second); err != nil || msg == "" {
			t.Fatalf("%s: first frame %q %v", path, msg, err)
		}
		_ = c.Close()
	}
	code, hdr, body := h.get("GET", "/api/v1/metrics/all_system_info")
	if code != 400 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(body, `{"message":"bad request, websocket is required"`) {
		t.Fatalf("all_system_info over HTTP: %d %s", code, body)
	}
}

// TestGoDoxyNames: GoDoxy's web UI keys live cards by agent name and the
// main server as "GoDoxy": all_system_info frames carry each host's name
// as its agent was given it (the Ringwatch-Name header), and the hub's own
// host is "GoDoxy" with GoDoxyNames; GET /api/v1/agent/list gives the
// agents with the address the UI passes back as agent_addr, which resolves
// to the host, or 404.
func TestGoDoxyNames(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.GoDoxyNames = true; c.AgentListEvery = 200 * time.Millisecond })
	twoSamples(h)
	now := time.Now().Unix()
	msg := fmt.Sprintf(`{"timestamp":%d,"cpu_average":5,"memory":{"used":1},"disks":{},"sensors":[]}`, now)
	if err := h.pub.PublishMsg(&bus.Msg{Subject: "ringwatch.raw.my-nas.system_info", Data: []byte(msg),
		Header: bus.Header{bus.NameHeader: []string{"My NAS"}}}); err != nil {
		t.Fatal(err)
	}
	_ = h.pub.Flush()
	waitFor(t, func() error {
		if h.p.Latest("my-nas", "system_info") == nil {
			return fmt.Errorf("my-nas not ingested")
		}
		return nil
	})
	c := h.mustDial("/api/v1/metrics/all_system_info?interval=1s")
	keys := map[string]bool{}
	for len(keys) < 2 {
		m, err := read(t, c, 3*time.Second)
		if err != nil {
			t.Fatalf("all_system_info: %v (keys so far %v)", err, keys)
		}
		var frame map[string]json.RawMessage
		if err := json.Unmarshal([]byte(m), &frame); err != nil {
			t.Fatal(err)
		}
		for k := range frame {
			keys[k] = true
		}
	}
	if !keys["GoDoxy"] || !keys["My NAS"] {
		t.Fatalf("frames keyed %v, want GoDoxy and My NAS", keys)
	}
	code, _, body := h.get("GET", "/api/v1/agent/list")
	if code != 200 || body != `[{"name":"My NAS","addr":"my-nas"}]` {
		t.Fatalf("agent list: %d %s", code, body)
	}
	// Over WebSocket, the list at once and then every AgentListEvery (10 s
	// by default, as GoDoxy).
	ac := h.mustDial("/api/v1/agent/list")
	for i := range 2 {
		if m, err := read(t, ac, 2*time.Second); err != nil || m != `[{"name":"My NAS","addr":"my-nas"}]` {
			t.Fatalf("agent list frame %d: %q %v", i, m, err)
		}
	}
	if code, _, body := h.get("GET", "/api/v1/metrics/system_info?agent_addr=my-nas"); code != 200 || !strings.Contains(body, `"cpu_average":5`) {
		t.Fatalf("agent_addr=my-nas: %d %s", code, body)
	}
	if code, _, body := h.get("GET", "/api/v1/metrics/system_info?agent_addr=nope"); code != 404 || !strings.Contains(body, `unknown host`) {
		t.Fatalf("agent_addr=nope: %d %s", code, body)
	}
}
