package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/uptime"
)

type routeAgg struct {
	Alias         string  `json:"alias"`
	Uptime        float64 `json:"uptime"`
	Downtime      float64 `json:"downtime"`
	Idle          float64 `json:"idle"`
	CurrentStatus string  `json:"current_status"`
	Statuses      []struct {
		Status string `json:"status"`
	} `json:"statuses"`
}

func uptimePage(t *testing.T, base, query string) (int, []routeAgg, error) {
	code, body := httpGet(t, base+"/api/v1/metrics/uptime?"+query)
	if code != 200 {
		return 0, nil, fmt.Errorf("%d %s", code, body)
	}
	var p struct {
		Total int        `json:"total"`
		Data  []routeAgg `json:"data"`
	}
	err := json.Unmarshal([]byte(body), &p)
	return p.Total, p.Data, err
}

// flakyServer is an HTTP server on 127.0.0.1 that the test can stop and
// start again on the same port.
type flakyServer struct {
	addr string
	srv  *http.Server
}

func (f *flakyServer) start(t *testing.T) {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(func() { _ = f.srv.Close() })
}

func (f *flakyServer) stop() { _ = f.srv.Close() }

// TestRouteUpThenDownGivesExactUptime: a route up for 90 s then down for
// 30 s reports uptime 0.75 and downtime 0.25 over the 5m period (within one
// check's worth) and current_status unhealthy; after a restart, the 1h uptime
// is what it was, to the last completed bucket. With -short the same runs
// ten times faster (9 s up, 3 s down).
func TestRouteUpThenDownGivesExactUptime(t *testing.T) {
	up, down := 90*time.Second, 30*time.Second
	if testing.Short() {
		up, down = 9*time.Second, 3*time.Second
	}
	srv := &flakyServer{}
	srv.start(t)
	dir := t.TempDir()
	s := testSettings(t, dir)
	s.PollInterval = 250 * time.Millisecond
	routes, err := uptime.Validate([]uptime.Route{
		{Alias: "web", URL: "http://" + srv.addr, Interval: uptime.Duration(time.Second), Timeout: uptime.Duration(500 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Routes = routes
	ks, _ := kinds(s)
	h, _ := startTestHub(t, s, ks)
	base := "http://" + h.api.Addr()
	start := time.Now()
	eventually(t, start.Add(10*time.Second), func() error {
		_, rs, err := uptimePage(t, base, "period=5m")
		if err != nil || len(rs) != 1 || rs[0].CurrentStatus != "healthy" {
			return fmt.Errorf("waiting for the first healthy check: %+v %v", rs, err)
		}
		return nil
	})
	upSince := time.Now()
	eventually(t, upSince.Add(up+time.Second), func() error {
		if time.Since(upSince) < up {
			return fmt.Errorf("up for %s of %s", time.Since(upSince), up)
		}
		return nil
	})
	srv.stop()
	downSince := time.Now()
	eventually(t, downSince.Add(down+time.Second), func() error {
		if time.Since(downSince) < down {
			return fmt.Errorf("down for %s of %s", time.Since(downSince), down)
		}
		return nil
	})
	_, rs, err := uptimePage(t, base, "period=5m")
	if err != nil || len(rs) != 1 {
		t.Fatalf("%+v %v", rs, err)
	}
	r := rs[0]
	// One check's worth: a 1 s check interval over 120 s (12 s with -short).
	tol := float64(time.Second)/float64(up+down) + 0.01
	if math.Abs(r.Uptime-0.75) > tol || math.Abs(r.Downtime-0.25) > tol || r.CurrentStatus != "unhealthy" {
		t.Fatalf("uptime %.3f downtime %.3f idle %.3f current %s; want 0.75, 0.25 (±%.3f), unhealthy",
			r.Uptime, r.Downtime, r.Idle, r.CurrentStatus, tol)
	}

	// Restart: the 1h figures, up to the last completed bucket, come back.
	_, before, _ := uptimePage(t, base, "period=1h")
	if err := h.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.PollInterval = time.Hour // the restarted hub takes no new sample
	ks, _ = kinds(s)
	h2, _ := startTestHub(t, s, ks)
	_, after, err := uptimePage(t, "http://"+h2.api.Addr(), "period=1h")
	if err != nil || len(after) != 1 || after[0].Uptime != before[0].Uptime || after[0].Downtime != before[0].Downtime ||
		len(after[0].Statuses) != len(before[0].Statuses) {
		t.Fatalf("1h after restart %+v %v; before %+v", after, err, before)
	}
}

// TestSIGHUPReloadsRoutes: pause, unpause, add and remove routes by editing
// the config file and sending SIGHUP; the API reflects each within one poll
// interval; a bad file keeps the old routes.
func TestSIGHUPReloadsRoutes(t *testing.T) {
	srv := &flakyServer{}
	srv.start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ringwatch.yaml")
	write := func(routes string) {
		if err := os.WriteFile(cfg, []byte("routes:\n"+routes), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	route := func(alias string, paused bool) string {
		return fmt.Sprintf("  - alias: %s\n    url: http://%s\n    interval: 500ms\n    timeout: 400ms\n    paused: %v\n", alias, srv.addr, paused)
	}
	write(route("alpha", false))
	addr := freePort(t)
	base := "http://" + addr
	c := startChild(t, nil, "serve", "--config", cfg, "--data-dir", dir, "--http-addr", addr, "--host", "testhost")
	statuses := func() (map[string]string, error) {
		code, body := httpGet(t, base+"/api/v1/metrics/uptime")
		if code != 200 {
			return nil, fmt.Errorf("%d %s", code, body)
		}
		var sample uptime.Sample
		if err := json.Unmarshal([]byte(body), &sample); err != nil {
			return nil, fmt.Errorf("%v: %s", err, body)
		}
		out := map[string]string{}
		for a, s := range sample.Statuses {
			out[a] = s.Status
		}
		return out, nil
	}
	expect := func(step string, want map[string]string) {
		t.Helper()
		eventually(t, time.Now().Add(5*time.Second), func() error {
			got, err := statuses()
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s: statuses %v, want %v", step, got, want)
			}
			return nil
		})
	}
	hup := func() { _ = c.cmd.Process.Signal(syscall.SIGHUP) }
	expect("start", map[string]string{"alpha": "healthy"})

	write(route("alpha", true) + route("beta", false))
	hup()
	expect("pause alpha, add beta", map[string]string{"alpha": "napping", "beta": "healthy"})

	write(route("alpha", false))
	hup()
	expect("unpause alpha, remove beta", map[string]string{"alpha": "healthy", "beta": "unknown"})

	write("  - alias: broken\n    url: ftp://nowhere\n")
	hup()
	eventually(t, time.Now().Add(5*time.Second), func() error {
		if !strings.Contains(c.logs.String(), `routes not reloaded; keeping the old ones`) ||
			!strings.Contains(c.logs.String(), `route \"broken\": url: scheme \"ftp\"`) {
			return fmt.Errorf("no log line for the bad reload:\n%s", c.logs)
		}
		return nil
	})
	expect("after a bad reload", map[string]string{"alpha": "healthy", "beta": "unknown"})
	if code, took := c.terminate(t); code != 0 || took > 5*time.Second {
		t.Fatalf("exit %d after %s", code, took)
	}
}

func TestInvalidRouteStopsStartUp(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(cfg, []byte("routes:\n  - alias: db\n    url: tcp://db:5432\n    interval: 5s\n    timeout: 10s\n"), 0o644)
	_, err := parseSettings("serve", []string{"--config", cfg}, envOf(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `route "db": timeout: 10s must be above 0 and below the interval (5s)`) {
		t.Fatalf("error %v", err)
	}
}
