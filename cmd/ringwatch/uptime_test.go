package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/actors/uptime"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
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

// checkerFunc is an uptime.Checker that answers at once: the routes' side
// of a fake-time test, where nothing may wait on the network.
type checkerFunc func(r uptime.Route) uptime.Result

func (f checkerFunc) Check(_ context.Context, r uptime.Route) uptime.Result { return f(r) }

// ingestDirectly publishes into a pipeline's running shards without a bus.
type ingestDirectly struct{ p *pipeline.Pipeline }

func (d ingestDirectly) Publish(subject string, data []byte) error {
	return d.p.Offer(subject, data, nil)
}

// routesOf runs the uptime mode over host's period.
func routesOf(t *testing.T, p *pipeline.Pipeline, period string) []uptime.RouteAggregate {
	t.Helper()
	per, _ := aggregators.ParsePeriod(period)
	v := p.View(per, "testhost", uptime.Name)
	if v == nil {
		t.Fatalf("no %s view", period)
	}
	data, err := uptime.Routes(v.Entries(), aggregators.Query{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uptime.RouteAggregate, len(data))
	for i, d := range data {
		out[i] = d.(uptime.RouteAggregate)
	}
	return out
}

// TestRouteUpThenDownGivesExactUptime runs the hub's uptime path (monitor,
// poller, ingest, the five downsamplers) on fake time: a route up for 90 s
// then down for 30 s reports uptime 0.75 and downtime 0.25 over the 5m
// period and current_status unhealthy; after a snapshot and a restore into a
// new pipeline, the 1h figures are what they were. Two minutes take
// milliseconds; a real process runs the same path in TestSIGHUPReloadsRoutes.
func TestRouteUpThenDownGivesExactUptime(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		routes, err := uptime.Validate([]uptime.Route{
			{Alias: "web", URL: "http://web.invalid", Interval: uptime.Duration(time.Second), Timeout: uptime.Duration(500 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		var down atomic.Bool
		mon := uptime.NewMonitor(routes, bustest.Quiet())
		mon.Checker = checkerFunc(func(uptime.Route) uptime.Result {
			if down.Load() {
				return uptime.Result{Status: uptime.Unhealthy, Reason: "connection refused", Latency: time.Millisecond, At: time.Now()}
			}
			return uptime.Result{Status: uptime.Healthy, Latency: 2 * time.Millisecond, At: time.Now()}
		})
		p := pipeline.New([]aggregators.Kind{uptime.Kind()}, nil, nil, bustest.Quiet())
		poller := &actors.Poller{Name: uptime.Name, Subject: bus.Raw("testhost", uptime.Name), Interval: 250 * time.Millisecond,
			Source: mon, Pub: ingestDirectly{p}, Log: bustest.Quiet()}
		sup := actors.NewSupervisor(bustest.Quiet(), actors.DefaultBackoff)
		specs := append(p.Specs(), actors.Spec{Name: "checks", Stage: actors.StagePoller, Actor: mon},
			actors.Spec{Name: "poller", Stage: actors.StagePoller, Actor: poller})
		defer sup.Stop(context.Background()) // on failure; a second Stop is harmless
		for _, sp := range specs {
			if err := sup.Start(context.Background(), sp); err != nil {
				t.Fatal(err)
			}
		}
		for mon.Checks() == 0 { // the first check comes within one interval
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(90 * time.Second)
		down.Store(true)
		time.Sleep(30 * time.Second)
		synctest.Wait()

		rs := routesOf(t, p, "5m")
		// A change shows at the route's next check (1 s) and the next poll
		// (250 ms): the samples may be off by that much of the 120 s.
		const tol = 1.25 / 120
		if len(rs) != 1 || math.Abs(float64(rs[0].Uptime)-0.75) > tol || math.Abs(float64(rs[0].Downtime)-0.25) > tol ||
			rs[0].Idle > tol || rs[0].CurrentStatus != uptime.Unhealthy {
			t.Fatalf("5m: %+v; want uptime 0.75, downtime 0.25 and idle (starting) 0, each within %.4f, current unhealthy", rs, tol)
		}
		before := routesOf(t, p, "1h")
		if err := sup.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		snap := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: bustest.Quiet()}
		if err := snap.SnapshotAll(); err != nil {
			t.Fatal(err)
		}
		q := pipeline.New([]aggregators.Kind{uptime.Kind()}, nil, nil, bustest.Quiet())
		for _, st := range persistence.LoadAll(dir, "testhost", []aggregators.Kind{uptime.Kind()}, bustest.Quiet()) {
			q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
		}
		after := routesOf(t, q, "1h")
		if len(after) != 1 || after[0].Uptime != before[0].Uptime || after[0].Downtime != before[0].Downtime ||
			after[0].AvgLatency != before[0].AvgLatency || len(after[0].Statuses) != len(before[0].Statuses) {
			t.Fatalf("1h after the restore %+v; before %+v", after, before)
		}
	})
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
		bustest.Eventually(t, 5*time.Second, func() error {
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
	bustest.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(c.logs.String(), `routes not reloaded; keeping the old ones`) ||
			!strings.Contains(c.logs.String(), `route \"broken\": url: scheme \"ftp\"`) {
			return fmt.Errorf("no log line for the bad reload:\n%s", c.logs)
		}
		return nil
	})
	expect("after a bad reload", map[string]string{"alpha": "healthy", "beta": "unknown"})

	// The route goes down: the process reports it, and its 5m history holds
	// both statuses, ending with the current one.
	srv.stop()
	expect("server down", map[string]string{"alpha": "unhealthy", "beta": "unknown"})
	bustest.Eventually(t, 5*time.Second, func() error {
		_, rs, err := uptimePage(t, base, "period=5m&keyword=alpha")
		if err != nil || len(rs) != 1 {
			return fmt.Errorf("5m: %+v %v", rs, err)
		}
		if r := rs[0]; r.CurrentStatus != "unhealthy" || r.Uptime <= 0 || r.Downtime <= 0 || r.Uptime+r.Downtime+r.Idle < 0.999 {
			return fmt.Errorf("5m of alpha: %+v; want current unhealthy after some time up", r)
		}
		return nil
	})
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

// TestTenThousandRoutesAreServed, on fake time: 10,000 routes go out in
// parts of at most 200 routes (each far under the bus's payload limit and
// --max-sample-bytes), and the latest uptime sample the API serves holds
// every route within two intervals.
func TestTenThousandRoutesAreServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rs []uptime.Route
		for i := range 10_000 {
			rs = append(rs, uptime.Route{Alias: fmt.Sprintf("route-%05d", i), URL: fmt.Sprintf("http://r%d.invalid", i)})
		}
		routes, err := uptime.Validate(rs)
		if err != nil {
			t.Fatal(err)
		}
		mon := uptime.NewMonitor(routes, bustest.Quiet())
		mon.Checker = checkerFunc(func(uptime.Route) uptime.Result {
			return uptime.Result{Status: uptime.Healthy, Latency: time.Millisecond, At: time.Now()}
		})
		p := pipeline.New([]aggregators.Kind{uptime.Kind()}, nil, nil, bustest.Quiet())
		var largest atomic.Int64
		pub := publisherFunc(func(subject string, data []byte) error { // the poller's goroutine only
			if n := int64(len(data)); n > largest.Load() {
				largest.Store(n)
			}
			return p.Offer(subject, data, nil)
		})
		poller := &actors.Poller{Name: uptime.Name, Subject: bus.Raw("testhost", uptime.Name), Interval: time.Second,
			Source: mon, Pub: pub, Log: bustest.Quiet()}
		sup := actors.NewSupervisor(bustest.Quiet(), actors.DefaultBackoff)
		defer sup.Stop(context.Background())
		for _, sp := range append(p.Specs(), actors.Spec{Name: "checks", Stage: actors.StagePoller, Actor: mon},
			actors.Spec{Name: "poller", Stage: actors.StagePoller, Actor: poller}) {
			_ = sup.Start(context.Background(), sp)
		}
		time.Sleep(2 * time.Second) // two poll intervals
		synctest.Wait()
		l := p.Latest("testhost", uptime.Name)
		if l == nil {
			t.Fatal("no uptime sample")
		}
		var sample uptime.Sample
		if err := json.Unmarshal(l.Body(), &sample); err != nil {
			t.Fatal(err)
		}
		if len(sample.Statuses) != 10_000 || sample.Statuses["route-09999"].Status == "" {
			t.Fatalf("the latest sample holds %d routes, want 10000", len(sample.Statuses))
		}
		if n := largest.Load(); n > 64<<10 {
			t.Fatalf("the largest message was %d bytes", n)
		}
	})
}

// publisherFunc adapts a function to actors.Publisher.
type publisherFunc func(subject string, data []byte) error

func (f publisherFunc) Publish(subject string, data []byte) error { return f(subject, data) }

// TestImportedUptimeHistoryWeighsByTime: GoDoxy's uptime file holds 100
// unhealthy entries per ring, one sample each; 30 s of healthy live checks
// follow. Uptime is weighted by the time each entry stands for: the 1h and
// 1d figures are within 0.02 of the time-weighted truth, where counting an
// imported entry as one sample made 30 live seconds outweigh days.
func TestImportedUptimeHistoryWeighsByTime(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	start := now - 40 // the live checks begin 40 s ago; history ends before
	var file strings.Builder
	file.WriteString(`{"entries":{`)
	for i, per := range aggregators.Periods {
		sec := int64(per.Seconds())
		if i > 0 {
			file.WriteByte(',')
		}
		fmt.Fprintf(&file, `%q:{"interval":%d,"entries":[`, per.Name, sec*int64(time.Second))
		last := (start-1)/sec*sec - sec // the bucket before the one the live checks start in
		for j := range 100 {
			if j > 0 {
				file.WriteByte(',')
			}
			fmt.Fprintf(&file, `{"timestamp":%d,"statuses":{"api":{"status":"unhealthy","latency":5}}}`, last-int64(99-j)*sec)
		}
		file.WriteString(`]}`)
	}
	file.WriteString(`}}`)
	if err := os.WriteFile(filepath.Join(dir, "uptime.json"), []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pipeline.New([]aggregators.Kind{uptime.Kind()}, nil, nil, bustest.Quiet())
	for _, st := range persistence.LoadAll(dir, "testhost", []aggregators.Kind{uptime.Kind()}, bustest.Quiet()) {
		p.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	}
	for ts := start; ts < start+30; ts++ { // 30 s of healthy checks, one poll a second
		sample := fmt.Sprintf(`{"timestamp":%d,"statuses":{"api":{"status":"healthy","latency":3,"counts":{"healthy":1}}}}`, ts)
		if err := p.IngestNow(bus.Raw("testhost", uptime.Name), []byte(sample), nil, time.Unix(ts, 0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, per := range []string{"1h", "1d"} {
		p2, _ := aggregators.ParsePeriod(per)
		history := 100 * float64(p2.Seconds())
		truth := 30 / (history + 30)
		rs := routesOf(t, p, per)
		if len(rs) != 1 || math.Abs(float64(rs[0].Uptime)-truth) > 0.02 {
			t.Fatalf("%s: %+v, want uptime within 0.02 of %.4f", per, rs, truth)
		}
		t.Logf("%s uptime %.4f (time-weighted %.4f)", per, rs[0].Uptime, truth)
	}
}

// TestImportedEntryKeepsItsStatusBesideLiveChecks: an imported GoDoxy entry
// in the bucket that live checks then join keeps its status, weighted by
// the time it stands for: one unhealthy 1d entry (864 s) and one healthy
// live second in the same bucket give 1d uptime 1/865, not 1.
func TestImportedEntryKeepsItsStatusBesideLiveChecks(t *testing.T) {
	dir := t.TempDir()
	day, _ := aggregators.ParsePeriod("1d")
	sec := int64(day.Seconds())
	bucket := (time.Now().Unix() - 10) / sec * sec
	file := fmt.Sprintf(`{"entries":{"1d":{"interval":%d,"entries":[{"timestamp":%d,"statuses":{"api":{"status":"unhealthy","latency":5}}}]}}}`,
		sec*int64(time.Second), bucket)
	if err := os.WriteFile(filepath.Join(dir, "uptime.json"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pipeline.New([]aggregators.Kind{uptime.Kind()}, nil, nil, bustest.Quiet())
	for _, st := range persistence.LoadAll(dir, "testhost", []aggregators.Kind{uptime.Kind()}, bustest.Quiet()) {
		p.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	}
	ts := bucket + 1
	live := fmt.Sprintf(`{"timestamp":%d,"statuses":{"api":{"status":"healthy","latency":3,"counts":{"healthy":1}}}}`, ts)
	if err := p.IngestNow(bus.Raw("testhost", uptime.Name), []byte(live), nil, time.Unix(ts, 0)); err != nil {
		t.Fatal(err)
	}
	v := p.View(day, "testhost", uptime.Name)
	data, err := uptime.Routes(v.Entries(), aggregators.Query{Interval: sec})
	if err != nil || len(data) != 1 {
		t.Fatalf("%v %v", data, err)
	}
	r := data[0].(uptime.RouteAggregate)
	if want := 1.0 / float64(sec+1); math.Abs(float64(r.Uptime)-want) > 1e-4 || math.Abs(float64(r.Downtime)-(1-want)) > 1e-4 {
		t.Fatalf("1d: uptime %v downtime %v, want %.5f and %.5f", r.Uptime, r.Downtime, want, 1-want)
	}
}
