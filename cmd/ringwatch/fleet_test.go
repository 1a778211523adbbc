package main

// The fleet tests run the built binary (without -race, as users run it) and
// the load generator as separate processes on 127.0.0.1, for the minute an
// operator would try them. -short skips them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/actors/uptime"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

// fleetBin is the ringwatch binary the fleet tests run, built once per test
// binary into fleetBin.dir (removed by TestMain).
var fleetBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func fleetBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a fleet test runs the built binary under load for a minute; -short skips it")
	}
	fleetBin.once.Do(func() {
		if fleetBin.dir, fleetBin.err = os.MkdirTemp("", "ringwatch-fleet-"); fleetBin.err != nil {
			return
		}
		fleetBin.path = filepath.Join(fleetBin.dir, "ringwatch")
		out, err := exec.Command("go", "build", "-o", fleetBin.path, ".").CombinedOutput()
		if err != nil {
			fleetBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if fleetBin.err != nil {
		t.Fatal(fleetBin.err)
	}
	return fleetBin.path
}

// fleetHub is a hub process with NATS on TCP.
type fleetHub struct {
	*child
	base, nats string
}

// startFleetHub starts the built hub on data folder dir and waits until it
// answers HTTP (it listens once its state is loaded).
func startFleetHub(t *testing.T, dir string, extra ...string) *fleetHub {
	t.Helper()
	h := &fleetHub{base: "http://" + freePort(t), nats: "nats://" + freePort(t)}
	args := append([]string{"serve", "--data-dir", dir, "--host", "hub",
		"--http-addr", strings.TrimPrefix(h.base, "http://"), "--nats-addr", strings.TrimPrefix(h.nats, "nats://"),
		"--nats-insecure"}, extra...) // loadgen speaks for thousands of hosts
	h.child = startProcess(t, fleetBinary(t), nil, args...)
	bustest.Eventually(t, time.Minute, func() error {
		if code, body := httpGet(t, h.base+"/healthz"); code == 0 {
			return fmt.Errorf("not answering yet: %s", body)
		}
		return nil
	})
	return h
}

// rss is the process's resident memory in bytes, from /proc.
func (c *child) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// loadgenReport is what `ringwatch loadgen --json` prints.
type loadgenReport struct {
	Sent       uint64            `json:"sent"`
	SendErrors uint64            `json:"send_errors"`
	Received   uint64            `json:"hub_received"`
	Dropped    map[string]uint64 `json:"hub_dropped"`
	LatencyP99 float64           `json:"latency_p99_seconds"`
}

// loadgen starts the load generator against h; wait returns its report.
type loadgen struct {
	cmd         *exec.Cmd
	out, errout bytes.Buffer
}

func startLoadgen(t *testing.T, h *fleetHub, args ...string) *loadgen {
	t.Helper()
	lg := &loadgen{}
	lg.cmd = exec.Command(fleetBinary(t), append([]string{"loadgen", "--bus", h.nats, "--api", h.base, "--json"}, args...)...)
	lg.cmd.Stdout, lg.cmd.Stderr = &lg.out, &lg.errout
	if err := lg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lg.cmd.Process.Kill(); _, _ = lg.cmd.Process.Wait() })
	return lg
}

func (lg *loadgen) wait(t *testing.T) loadgenReport {
	t.Helper()
	if err := lg.cmd.Wait(); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, &lg.errout)
	}
	var r loadgenReport
	if err := json.Unmarshal(lg.out.Bytes(), &r); err != nil {
		t.Fatalf("loadgen report %q: %v", lg.out.String(), err)
	}
	return r
}

func dropped(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

func hostName(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

// TestFleetSIGTERMWithTwoThousandHosts: 2,000 hosts publish for a minute
// over NATS TCP; SIGTERM; exit 0 within 10 s (Docker's grace period) with
// every host's file present; the restarted hub serves every host's 5m ring
// with the same points.
func TestFleetSIGTERMWithTwoThousandHosts(t *testing.T) {
	const hosts = 2000
	dir := t.TempDir()
	h := startFleetHub(t, dir)
	rep := startLoadgen(t, h, "--hosts", strconv.Itoa(hosts), "--duration", "60s", "--churn", "0").wait(t)
	if rep.Sent < hosts*59 || rep.SendErrors > 0 || rep.Received < rep.Sent || dropped(rep.Dropped) > 0 {
		t.Fatalf("loadgen: %+v, want about %d sent, all received, nothing dropped", rep, hosts*60)
	}
	t.Logf("loadgen: %d samples, hub received %d, publish-to-ring p99 %.3f s", rep.Sent, rep.Received, rep.LatencyP99)

	// ring is the host's 5m ring as three of its aggregates: a gauge, a
	// rate from counters per interface, and per-device figures.
	ring := func(base, host string) (string, error) {
		var all string
		for _, agg := range []string{"cpu_average", "network_speed", "disks_iops"} {
			code, body := httpGet(t, base+"/api/v1/metrics/system_info?period=5m&aggregate="+agg+"&host="+host)
			if code != 200 || !strings.Contains(body, `"total":`) || strings.Contains(body, `"total":0`) {
				return "", fmt.Errorf("%s %s: %d %.200s", host, agg, code, body)
			}
			all += body + "\n"
		}
		return all, nil
	}
	before := make([]string, hosts+1)
	for i := 1; i <= hosts; i++ {
		var err error
		if before[i], err = ring(h.base, hostName("load", i)); err != nil {
			t.Fatal(err)
		}
	}
	code, took := h.terminate(t)
	if code != 0 || took > 10*time.Second {
		t.Fatalf("SIGTERM: exit %d after %s, want 0 within 10 s; logs:\n%s", code, took, h.logs)
	}
	t.Logf("SIGTERM with %d hosts: exit 0 after %s", hosts, took.Round(time.Millisecond))
	for i := 1; i <= hosts; i++ {
		if _, err := os.Stat(persistence.Path(filepath.Join(dir, "metrics"), hostName("load", i), "system_info")); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	h2 := startFleetHub(t, dir)
	for i := 1; i <= hosts; i++ {
		after, err := ring(h2.base, hostName("load", i))
		if err != nil {
			t.Fatal(err)
		}
		if after != before[i] {
			t.Fatalf("%s's 5m ring before the restart:\n%.400s\nafter:\n%.400s", hostName("load", i), before[i], after)
		}
	}
	t.Logf("restart: every host's 5m ring served, the same, %s after the start", time.Since(start).Round(time.Millisecond))
	if code, took := h2.terminate(t); code != 0 {
		t.Fatalf("second SIGTERM: exit %d after %s; logs:\n%s", code, took, h2.logs)
	}
}

// TestFleetAllSystemInfoSocket: with 150 hosts publishing, an
// all_system_info socket receives a frame for every host within two
// intervals, and stays open, still receiving every host, for a minute.
func TestFleetAllSystemInfoSocket(t *testing.T) {
	const hosts = 150
	h := startFleetHub(t, t.TempDir())
	lg := startLoadgen(t, h, "--hosts", strconv.Itoa(hosts), "--duration", "66s", "--churn", "0")
	bustest.Eventually(t, 30*time.Second, func() error {
		if n := getStats(t, h.base).Pipeline.Hosts; n < hosts+1 {
			return fmt.Errorf("%d hosts heard", n)
		}
		return nil
	})
	c, _, err := websocket.DefaultDialer.Dial(strings.Replace(h.base, "http", "ws", 1)+"/api/v1/metrics/all_system_info?interval=1s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// seen receives frames until every host has one, within limit.
	seen := func(limit time.Duration) error {
		got := map[string]bool{}
		deadline := time.Now().Add(limit)
		for len(got) < hosts+1 {
			_ = c.SetReadDeadline(deadline)
			_, msg, err := c.ReadMessage()
			if err != nil {
				return fmt.Errorf("after %d hosts: %w", len(got), err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(msg, &m); err != nil || len(m) != 1 {
				return fmt.Errorf("frame %.200q: %v", msg, err)
			}
			for k := range m {
				got[k] = true
			}
		}
		return nil
	}
	if err := seen(2 * time.Second); err != nil {
		t.Fatalf("first two intervals: %v", err)
	}
	// For a minute, the socket stays open and every host keeps arriving (a
	// generous window per round: the machine is shared with other tests).
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		if err := seen(10 * time.Second); err != nil {
			t.Fatalf("%s before the minute was up: %v", time.Until(end).Round(time.Second), err)
		}
	}
	if ws := getStats(t, h.base).WebSockets; ws.Clients != 1 || ws.ClosedSlow != 0 {
		t.Fatalf("websockets after the minute: %+v", ws)
	}
	if rep := lg.wait(t); dropped(rep.Dropped) > 0 {
		t.Fatalf("loadgen: %+v", rep)
	}
	if code, _ := h.terminate(t); code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, h.logs)
	}
}

// TestFleetStreamSocketThatNeverReads: a stream socket whose client never
// reads, while 150 one-megabyte messages go by, is closed with 1013 once
// its 8 MiB bound is reached; the hub's RSS stays under its idle RSS plus
// the bound plus 100 MB, and the close is counted.
func TestFleetStreamSocketThatNeverReads(t *testing.T) {
	h := startFleetHub(t, t.TempDir())
	dialer := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	idle, _, err := dialer.Dial(strings.Replace(h.base, "http", "ws", 1)+"/api/v1/stream?subject=ringwatch.raw.big.>", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	pub, err := bus.DialOnce(h.nats, "fleet-test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	baseline := h.rss(t)
	peak := baseline
	pad := strings.Repeat("z", 1<<20-200)
	for i := range 150 {
		if err := pub.Publish("ringwatch.raw.big.blob", fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, pad)); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, h.rss(t))
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		peak = max(peak, h.rss(t))
		if n := getStats(t, h.base).WebSockets.ClosedSlow; n != 1 {
			return fmt.Errorf("%d sockets closed as slow", n)
		}
		return nil
	})
	if limit := baseline + 8<<20 + 100<<20; peak > limit {
		t.Fatalf("hub RSS went from %d MB to %d MB, over %d MB", baseline>>20, peak>>20, limit>>20)
	}
	t.Logf("hub RSS: %d MB idle, %d MB at most during 150 MB for a socket that never reads", baseline>>20, peak>>20)
	frames := 0
	for {
		_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err = idle.ReadMessage(); err != nil {
			break
		}
		frames++
	}
	if !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		t.Fatalf("after %d frames the socket ended with %v, want 1013", frames, err)
	}
	if code, _ := h.terminate(t); code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, h.logs)
	}
}

// TestFleetBounds: with --max-hosts 11, ten legitimate hosts keep being
// served while 10,000 fake host names, a message over --max-sample-bytes
// and a 1 MB string value arrive; each reason is counted. A host folder that
// is a symbolic link to a folder outside the data folder is refused and
// logged, and nothing is written outside.
func TestFleetBounds(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "metrics"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "metrics", hostName("legit", 2))); err != nil {
		t.Fatal(err)
	}
	// 10 legitimate hosts and one with a long string; the hub's own is not counted.
	h := startFleetHub(t, dir, "--max-hosts", "11", "--snapshot-interval", "2s")
	legit := startLoadgen(t, h, "--hosts", "10", "--prefix", "legit", "--duration", "25s", "--churn", "0")
	pub, err := bus.DialOnce(h.nats, "fleet-test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sample := func(extra string) []byte {
		return fmt.Appendf(nil, `{"timestamp":%d,"cpu_average":12.5,"memory":{"total":100,"used":50},"note":%q}`, time.Now().Unix(), extra)
	}
	longString := strings.Repeat("s", 100_000)
	for _, m := range []struct{ subject, body string }{
		{bus.Raw("longstr", "system_info"), string(sample(longString))},                    // kept, its string out of the buckets
		{bus.Raw("toolarge", "system_info"), string(sample(strings.Repeat("x", 300_000)))}, // over 256 KiB
		{bus.Raw("megastring", "system_info"), string(sample(strings.Repeat("m", 1_000_000)))},
	} {
		if err := pub.Publish(m.subject, []byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 20*time.Second, func() error {
		if n := getStats(t, h.base).Pipeline.Hosts; n != 12 {
			return fmt.Errorf("%d hosts", n)
		}
		return nil
	})
	flood := startLoadgen(t, h, "--hosts", "10000", "--prefix", "fake", "--duration", "5s", "--churn", "0", "--shape", "1,1,1,0").wait(t)
	floodEnd := time.Now().Unix()

	st := getStats(t, h.base).Pipeline
	if st.Hosts != 12 || st.Dropped["too_many_hosts"] < flood.Sent*9/10 || st.Dropped["too_large"] != 2 || st.LongLiterals < 1 {
		t.Fatalf("pipeline after the flood: hosts %d, dropped %v, long strings %d; the flood sent %d",
			st.Hosts, st.Dropped, st.LongLiterals, flood.Sent)
	}
	for i := 1; i <= 10; i++ {
		bustest.Eventually(t, 5*time.Second, func() error {
			si, err := latestOf(t, h.base, hostName("legit", i))
			if err != nil || si.Timestamp < floodEnd {
				return fmt.Errorf("%s: latest %d, want from %d on: %v", hostName("legit", i), si.Timestamp, floodEnd, err)
			}
			return nil
		})
	}
	code, body := httpGet(t, h.base+"/api/v1/metrics/system_info?host=longstr")
	if code != 200 || !strings.Contains(body, longString) {
		t.Fatalf("longstr's latest: %d %.200s", code, body)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		if n := getStats(t, h.base).Snapshots.Refused; n < 1 {
			return fmt.Errorf("%d paths refused", n)
		}
		return nil
	})
	if rep := legit.wait(t); rep.SendErrors > 0 {
		t.Fatalf("legit loadgen: %+v", rep)
	}
	if code, _ := h.terminate(t); code != 0 { // the refused host is not a failed snapshot
		t.Fatalf("exit %d; logs:\n%s", code, h.logs)
	}
	if n := strings.Count(h.logs.String(), "state path refused"); n != 1 {
		t.Fatalf("the symbolic link was logged %d times, want once; logs:\n%s", n, h.logs)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("written outside the data folder: %v", entries)
	}
	for _, host := range []string{hostName("legit", 1), hostName("legit", 10), "longstr", "hub"} {
		p := persistence.Path(filepath.Join(dir, "metrics"), host, "system_info")
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > 1<<20 {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
	}
}

// TestFleetTenThousandRoutes: 10,000 routes against a server on 127.0.0.1
// appear in /api/v1/metrics/uptime, healthy, within two check intervals
// of the hub's answering.
func TestFleetTenThousandRoutes(t *testing.T) {
	const routes = 10_000
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	var cfg strings.Builder
	cfg.WriteString("routes:\n")
	for i := range routes {
		fmt.Fprintf(&cfg, "  - alias: route-%05d\n    url: http://%s/r/%d\n", i, ln.Addr(), i) // every 5 s, the default
	}
	path := filepath.Join(t.TempDir(), "ringwatch.yml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startFleetHub(t, t.TempDir(), "--config", path)
	start := time.Now() // answering HTTP: the routes are loaded
	bustest.Eventually(t, 2*uptime.DefaultInterval, func() error {
		code, body := httpGet(t, h.base+"/api/v1/metrics/uptime")
		var latest struct {
			Statuses map[string]struct {
				Status string `json:"status"`
			} `json:"statuses"`
		}
		if err := json.Unmarshal([]byte(body), &latest); code != 200 || err != nil {
			return fmt.Errorf("%d %.200s: %v", code, body, err)
		}
		healthy := 0
		for _, st := range latest.Statuses {
			if st.Status == "healthy" {
				healthy++
			}
		}
		if healthy != routes {
			return fmt.Errorf("%d routes served, %d healthy", len(latest.Statuses), healthy)
		}
		return nil
	})
	t.Logf("%d routes served %s after the start", routes, time.Since(start).Round(time.Millisecond))
	if code, _ := h.terminate(t); code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, h.logs)
	}
}

// writeFullHosts writes one full host's state file under n names,
// load-00001 on, in dir's metrics folder.
func writeFullHosts(t *testing.T, dir string, n int) {
	t.Helper()
	p, now := fullHost(t)
	views := fullViews(p)
	doc := persistence.EncodeV2(nil, "snap-00001", "system_info", views["5m"].Layout, views, nil, now)
	for i := 1; i <= n; i++ {
		name := hostName("load", i)
		path := persistence.Path(filepath.Join(dir, "metrics"), name, "system_info")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		if err := persistence.Gzip(&gz, bytes.Replace(doc, []byte(`"host":"snap-00001"`), []byte(`"host":"`+name+`"`), 1)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSIGTERMWhileTheStateLoads: a hub stopped while it loads a fleet's
// state, just after every host sent a sample, gives the load up, exits 0 at
// once, and leaves every state file as it was: the hosts it had not read
// are not written over with the one sample they sent (it is dropped, with
// a line); those it had read may have a journal entry more.
func TestSIGTERMWhileTheStateLoads(t *testing.T) {
	const hosts = 300
	bin := fleetBinary(t)
	dir := t.TempDir()
	writeFullHosts(t, dir, hosts)
	files := map[string][]byte{}
	metrics := filepath.Join(dir, "metrics")
	if err := filepath.WalkDir(metrics, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[path], err = os.ReadFile(path)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	base, natsAddr := "http://"+freePort(t), freePort(t)
	h := startProcess(t, bin, nil, "serve", "--data-dir", dir, "--host", "hub", "--http-addr", strings.TrimPrefix(base, "http://"),
		"--nats-addr", natsAddr, "--nats-insecure")
	bustest.Eventually(t, 30*time.Second, func() error {
		code, body := httpGet(t, base+"/api/v1/stats")
		if code != 200 {
			return fmt.Errorf("stats %d %.200s", code, body)
		}
		if !strings.Contains(body, `"hosts_loading":`) || strings.Contains(body, `"hosts_loading":0,`) {
			t.Fatalf("not loading any more, or no hosts_loading: too fast to test this: %.2000s", body)
		}
		return nil
	})
	// Every host sends a sample: those not read by the stop must not be
	// written over with it.
	nc, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := 1; i <= hosts; i++ {
		if err := nc.Publish(bus.Raw(hostName("load", i), "system_info"), sample(time.Now().Unix(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	code, took := h.terminate(t)
	if code != 0 {
		t.Fatalf("exit %d after %s; logs:\n%s", code, took, h.logs)
	}
	t.Logf("exit 0 %s after SIGTERM", took.Round(time.Millisecond))
	if strings.Contains(h.logs.String(), "state loaded") || !strings.Contains(h.logs.String(), "dropped samples of hosts whose state had not loaded") {
		t.Fatalf("the load went on to the end, or no sample waited for a host at the stop:\n%s", h.logs)
	}
	// Every file as it was; a host that had loaded may have got a journal
	// entry (a bucket the clock closed), nothing else is new.
	after := 0
	if err := filepath.WalkDir(metrics, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		before, ok := files[path]
		if !ok {
			if !strings.Contains(filepath.Base(path), ".journal-") {
				return fmt.Errorf("%s is new", path)
			}
			return nil
		}
		after++
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, before) {
			return fmt.Errorf("%s changed (%v)", path, err)
		}
		return nil
	}); err != nil || after != len(files) {
		t.Fatalf("%v; %d of the %d files left", err, after, len(files))
	}
}

// TestHubServesWhileTheStateLoads: a hub restarting on the state of 300
// full hosts takes seconds to load it, and serves from the start. /healthz
// answers 200 at once; a query for the host it would read last answers
// with that host's whole history while the others still load (it is read
// first), and /api/v1/stats counts the hosts still loading. A new agent
// that publishes in that time finds every sample in its 5m ring; a sample
// of a host still loading waits for its state and joins its history.
func TestHubServesWhileTheStateLoads(t *testing.T) {
	const hosts = 300
	bin := fleetBinary(t)
	dir := t.TempDir()
	writeFullHosts(t, dir, hosts)

	base, natsAddr := "http://"+freePort(t), freePort(t)
	h := startProcess(t, bin, nil, "serve", "--data-dir", dir, "--host", "hub", "--http-addr", strings.TrimPrefix(base, "http://"),
		"--nats-addr", natsAddr, "--nats-insecure")
	loading := func() int64 {
		code, body := httpGet(t, base+"/api/v1/stats")
		var st struct {
			Pipeline struct {
				HostsLoading *int64 `json:"hosts_loading"`
			} `json:"pipeline"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Pipeline.HostsLoading == nil {
			t.Fatalf("stats: %d %.300s", code, body)
		}
		return *st.Pipeline.HostsLoading
	}
	bustest.Eventually(t, 30*time.Second, func() error {
		if code, body := httpGet(t, base+"/healthz"); code != 200 {
			return fmt.Errorf("healthz %d %.200s", code, body)
		}
		return nil
	})
	lastHost := "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host=" + hostName("load", hosts)
	code, during := httpGet(t, base+lastHost)
	stillLoading := loading()
	if code != 200 {
		t.Fatalf("%s while loading: %d %.300s", hostName("load", hosts), code, during)
	}
	if stillLoading == 0 {
		t.Fatalf("the state had loaded by the time the first query was answered: too fast to test this (logs:\n%s)", h.logs)
	}
	var pg page
	if err := json.Unmarshal([]byte(during), &pg); err != nil || len(pg.Data) < 99 {
		t.Fatalf("%s while loading: %d points (%v), want its full 5m ring: %.300s", hostName("load", hosts), len(pg.Data), err, during)
	}
	t.Logf("%s answered with %d points while %d hosts were still loading", hostName("load", hosts), len(pg.Data), stillLoading)
	var nc *nats.Conn
	bustest.Eventually(t, 30*time.Second, func() (err error) {
		nc, err = nats.Connect("nats://"+natsAddr, nats.Timeout(time.Second))
		return err
	})
	defer nc.Close()
	// A sample of a host that is still loading (next to last in name
	// order) waits for its state, and is added to it.
	waiter, waiterTS := hostName("load", hosts-1), time.Now().Unix()+30
	if err := nc.Publish(bus.Raw(waiter, "system_info"), sample(waiterTS, 12.5)); err != nil {
		t.Fatal(err)
	}
	// Samples of a new host four to a second of their own time,
	// back-dated so that all fit in the 5m ring, every 5 ms until the
	// state has loaded: they are taken at once.
	first := time.Now().Unix() - 280
	var last int64
	whileLoading := 0
	pace := time.NewTicker(5 * time.Millisecond) // a publisher's pace
	defer pace.Stop()
	for i := int64(0); ; i++ {
		last = first + min(i/4, 270)
		if err := nc.Publish(bus.Raw("early-bird", "system_info"), sample(last, float64(i))); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if loading() == 0 {
			break
		}
		if whileLoading++; whileLoading > 20000 {
			t.Fatalf("the state had not loaded after %d samples; logs:\n%s", whileLoading, h.logs)
		}
		<-pace.C
	}
	if whileLoading < 5 {
		t.Fatalf("only %d samples were published while the state loaded: too fast to test this (logs:\n%s)", whileLoading, h.logs)
	}
	t.Logf("%d samples published while the state loaded (up to +%d s of their time)", whileLoading, last-first)
	if code, first := httpGet(t, base+"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host="+hostName("load", 1)); code != 200 || first != during {
		t.Fatalf("%s after the load: %d %.300s\n%s while loading: %.300s", hostName("load", 1), code, first, hostName("load", hosts), during)
	}
	want := map[int64]bool{}
	for s := first; s <= last; s++ {
		want[s/3*3] = true
	}
	bustest.Eventually(t, 30*time.Second, func() error {
		code, body := httpGet(t, base+"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host=early-bird")
		if code != 200 {
			return fmt.Errorf("%d %.200s", code, body)
		}
		var r struct {
			Data []struct {
				Timestamp int64 `json:"timestamp"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return err
		}
		got := map[int64]bool{}
		for _, d := range r.Data {
			got[d.Timestamp] = true
		}
		for b := range want {
			if !got[b] {
				return fmt.Errorf("no bucket at %d (+%d s) among %d points", b, b-first, len(r.Data))
			}
		}
		return nil
	})
	code, body := httpGet(t, base+"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host="+waiter)
	var w page
	// Its saved points (the same as every host's) that the ring still
	// holds after the new one (the ring spans 300 s), and the new one.
	points := 1
	for _, d := range pg.Data {
		if d["timestamp"].(float64) > float64(waiterTS/3*3-300) {
			points++
		}
	}
	if err := json.Unmarshal([]byte(body), &w); code != 200 || err != nil || len(w.Data) != points || points < 2 {
		t.Fatalf("%s after the load: %d (%v) %d points, want %d: its history and its new sample: %.300s", waiter, code, err, len(w.Data), points, body)
	}
	if got := w.Data[len(w.Data)-1]; got["timestamp"] != float64(waiterTS/3*3) || got["cpu_average"] != 12.5 {
		t.Fatalf("%s's newest point %v, want the sample it sent while loading (timestamp %d, cpu_average 12.5)", waiter, got, waiterTS/3*3)
	}
	if !strings.Contains(h.logs.String(), "state loaded") {
		t.Fatalf("no state loaded line:\n%s", h.logs)
	}
	// And it was written: a restart has it (the snapshotter knew the
	// host's state as loaded, without the sample, and wrote the sample in
	// the host's journal).
	if code, _ := h.terminate(t); code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, h.logs)
	}
	h2 := startProcess(t, bin, nil, "serve", "--data-dir", dir, "--host", "hub", "--http-addr", strings.TrimPrefix(base, "http://"))
	defer h2.terminate(t)
	bustest.Eventually(t, 30*time.Second, func() error {
		code, body := httpGet(t, base+"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host="+waiter)
		var w page
		if err := json.Unmarshal([]byte(body), &w); code != 200 || err != nil || len(w.Data) == 0 {
			return fmt.Errorf("%d (%v) %.300s", code, err, body)
		}
		if got := w.Data[len(w.Data)-1]; got["timestamp"] != float64(waiterTS/3*3) || got["cpu_average"] != 12.5 {
			t.Fatalf("after a restart, %s's newest point is %v: the sample it sent while its state loaded was not written", waiter, got)
		}
		return nil
	})
}
