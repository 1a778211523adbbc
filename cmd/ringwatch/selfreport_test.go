package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shirou/gopsutil/v4/common"
	"golang.org/x/sys/unix"

	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// scrape fetches /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T, base string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return mfs, []byte(body)
}

// value is the sample of family name whose labels include want; ok is false
// when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func getStats(t *testing.T, base string) api.Stats {
	t.Helper()
	code, body := httpGet(t, base+"/api/v1/stats")
	var st api.Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/v1/stats: %d %v %s", code, err, body)
	}
	return st
}

// TestMetricsParseLintAndCoverEveryFigure: /metrics on a running hub parses
// with Prometheus's text parser, passes promlint, carries every figure the
// hub keeps about itself, and agrees with /api/v1/stats.
func TestMetricsParseLintAndCoverEveryFigure(t *testing.T) {
	s := testSettings(t, t.TempDir())
	s.PollInterval = 100 * time.Millisecond
	s.SnapshotInterval = 200 * time.Millisecond // not a flag value: the flag's minimum is 1 s
	ks, err := kinds(s)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := startTestHub(t, s, ks)
	base := "http://" + h.api.Addr()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+h.api.Addr()+"/api/v1/metrics/system_info", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var mfs map[string]*dto.MetricFamily
	var body []byte
	bustest.Eventually(t, 5*time.Second, func() error {
		mfs, body = scrape(t, base)
		if v, _ := value(mfs, "ringwatch_snapshot_writes_total"); v < 1 {
			return fmt.Errorf("no snapshot written yet")
		}
		if v, _ := value(mfs, "ringwatch_websocket_clients"); v != 1 {
			return fmt.Errorf("websocket clients %v, want 1", v)
		}
		return nil
	})
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %+v", err, problems)
	}
	for _, want := range [][]string{
		{"ringwatch_build_info", "version", "dev"},
		{"ringwatch_healthy"},
		{"ringwatch_actor_up", "actor", "ingest"},
		{"ringwatch_actor_restarts_total", "actor", "shard/0"},
		{"ringwatch_poller_duration_seconds", "kind", "system_info"},
		{"ringwatch_poller_errors_total", "kind", "uptime"},
		{"ringwatch_collector_duration_seconds", "kind", "system_info", "collector", "cpu"},
		{"ringwatch_collector_errors_total", "kind", "system_info", "collector", "diskstats"},
		{"ringwatch_collector_success", "kind", "system_info", "collector", "filesystem"},
		{"ringwatch_ingest_received_total"},
		{"ringwatch_ingest_dropped_total", "reason", "malformed"},
		{"ringwatch_ingest_dropped_total", "reason", "queue_full"},
		{"ringwatch_downsampler_dropped_total", "period", "1mo", "reason", "too_old"},
		{"ringwatch_mailbox_depth", "mailbox", "shard/0"},
		{"ringwatch_mailbox_dropped_total", "mailbox", "ingest"},
		{"ringwatch_snapshot_duration_seconds"},
		{"ringwatch_snapshot_written_bytes_total"},
		{"ringwatch_snapshot_failures_total"},
		{"ringwatch_snapshot_last_success_timestamp_seconds"},
		{"ringwatch_websocket_closed_total", "reason", "slow"},
		{"ringwatch_bus_connections"},
		{"ringwatch_bus_slow_consumers_total"},
		{"go_goroutines"},
		{"process_resident_memory_bytes"},
	} {
		if _, ok := value(mfs, want[0], want[1:]...); !ok {
			t.Errorf("/metrics has no %v", want)
		}
	}
	st := getStats(t, base)
	if v, _ := value(mfs, "ringwatch_bus_connections"); st.Bus == nil || v != float64(st.Bus.Connections) || v < 3 {
		t.Errorf("bus connections: /metrics %v, /api/v1/stats %+v; want the same, at least the hub's 3", v, st.Bus)
	}
	if v, _ := value(mfs, "ringwatch_healthy"); v != 1 || st.Status != "ok" {
		t.Errorf("healthy %v, stats status %q: %v", v, st.Status, st.Problems)
	}
}

// TestFailingCollectorIsCountedAndTurnsHealthz503: a host whose
// /proc/diskstats is gone fails the diskstats collector on every poll; its
// error counter rises, the other collectors keep succeeding, /healthz turns
// 503 and says which collector once it has failed for CollectorFailFor, and
// turns 200 again when the file is back.
func TestFailingCollectorIsCountedAndTurnsHealthz503(t *testing.T) {
	host := newTrafficHost(t)
	host.counters(t, 1000, 2000)
	diskstats := filepath.Join(host.proc, "diskstats")
	if err := os.Remove(diskstats); err != nil {
		t.Fatal(err)
	}
	src, err := systeminfo.New(systeminfo.Config{Env: common.EnvMap{common.HostProcEnvKey: host.proc}})
	if err != nil {
		t.Fatal(err)
	}
	s := testSettings(t, t.TempDir())
	s.PollInterval = 100 * time.Millisecond
	s.collectorFailFor = time.Second
	h, _ := startTestHub(t, s, []kind{{agg: systeminfo.Kind(), source: src}})
	base := "http://" + h.api.Addr()
	errorsOf := func(collector string) float64 {
		mfs, _ := scrape(t, base)
		v, _ := value(mfs, "ringwatch_collector_errors_total", "kind", "system_info", "collector", collector)
		return v
	}
	var first float64
	bustest.Eventually(t, 2*time.Second, func() error {
		if first = errorsOf("diskstats"); first < 1 {
			return fmt.Errorf("diskstats errors %v", first)
		}
		return nil
	})
	bustest.Eventually(t, 2*time.Second, func() error {
		if n := errorsOf("diskstats"); n <= first {
			return fmt.Errorf("diskstats errors stay at %v", n)
		}
		return nil
	})
	if n := errorsOf("cpu"); n != 0 {
		t.Fatalf("cpu collector failed %v times", n)
	}
	bustest.Eventually(t, 3*time.Second, func() error {
		code, body := httpGet(t, base+"/healthz")
		if code != 503 || !strings.Contains(body, `"collector system_info/diskstats has failed every poll for `) ||
			!strings.Contains(body, `diskstats: no such file or directory`) {
			return fmt.Errorf("healthz %d %s", code, body)
		}
		return nil
	})
	if err := os.Symlink("/proc/diskstats", diskstats); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 2*time.Second, func() error {
		if code, body := httpGet(t, base+"/healthz"); code != 200 {
			return fmt.Errorf("healthz after the file came back: %d %s", code, body)
		}
		return nil
	})
}

// TestReadOnlyDataDirTurnsHealthz503: once the data folder refuses new
// files, every snapshot pass fails; the failure counter rises, and /healthz
// turns 503 once snapshots have failed for more than two intervals, and 200
// again when the folder is writable.
func TestReadOnlyDataDirTurnsHealthz503(t *testing.T) {
	dir := t.TempDir()
	s := testSettings(t, dir)
	s.PollInterval = 100 * time.Millisecond
	s.SnapshotInterval = 200 * time.Millisecond
	ks, err := kinds(s)
	if err != nil {
		t.Fatal(err)
	}
	h, logs := startTestHub(t, s, ks)
	base := "http://" + h.api.Addr()
	bustest.Eventually(t, 3*time.Second, func() error {
		if st := getStats(t, base); st.Snapshots == nil || st.Snapshots.LastSuccess == 0 {
			return fmt.Errorf("no snapshot written yet: %+v", st.Snapshots)
		}
		return nil
	})
	undo := readOnly(t, filepath.Join(dir, "metrics"))
	bustest.Eventually(t, 3*time.Second, func() error {
		code, body := httpGet(t, base+"/healthz")
		if code != 503 || !strings.Contains(body, "snapshots have failed for") {
			return fmt.Errorf("healthz %d %s", code, body)
		}
		return nil
	})
	mfs, _ := scrape(t, base)
	if v, _ := value(mfs, "ringwatch_snapshot_failures_total"); v < 2 {
		t.Fatalf("snapshot failures %v, want the passes that failed", v)
	}
	if n := strings.Count(logs.String(), "snapshot failed"); n < 2 {
		t.Fatalf("%d log lines for failed passes:\n%s", n, logs)
	}
	undo()
	bustest.Eventually(t, 2*time.Second, func() error {
		if code, body := httpGet(t, base+"/healthz"); code != 200 {
			return fmt.Errorf("healthz once writable: %d %s", code, body)
		}
		return nil
	})
	// Read-only again at shutdown, with something new to write: the final
	// snapshot fails, and says so.
	readOnly(t, filepath.Join(dir, "metrics"))
	received := getStats(t, base).Pipeline.Received
	bustest.Eventually(t, 2*time.Second, func() error {
		if n := getStats(t, base).Pipeline.Received; n <= received {
			return fmt.Errorf("no new sample yet")
		}
		return nil
	})
	if err := h.stop(5 * time.Second); err == nil || !strings.Contains(err.Error(), "the final snapshot failed") {
		t.Fatalf("stop with a read-only data folder: %v", err)
	}
}

// fsImmutable is FS_IMMUTABLE_FL (linux/fs.h): no new entries, even for root.
const fsImmutable = 0x10

// readOnly makes every folder under dir refuse new files, and every file
// refuse writes, and returns the
// undo (also run at cleanup). Tests here run as root, whom file modes do not
// stop, so for root it sets the immutable attribute instead; where the file
// system or the capabilities do not allow that, the test is skipped.
func readOnly(t *testing.T, dir string) (undo func()) {
	t.Helper()
	var dirs []string // and files: a journal is appended to in place
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.IsDir() || d.Type().IsRegular()) {
			dirs = append(dirs, p)
		}
		return nil
	})
	set := func(p string, on bool) error {
		if os.Geteuid() != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if fi.IsDir() {
				mode = 0o755
			}
			if on {
				mode &^= 0o222
			}
			return os.Chmod(p, mode)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
		if err != nil {
			return err
		}
		if on {
			flags |= fsImmutable
		} else {
			flags &^= fsImmutable
		}
		return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags)
	}
	done := false
	undo = func() {
		if !done {
			done = true
			for _, p := range dirs {
				_ = set(p, false)
			}
		}
	}
	t.Cleanup(undo)
	for _, p := range dirs {
		if err := set(p, true); err != nil {
			undo()
			t.Skipf("cannot make %s read-only here: %v (root needs CAP_LINUX_IMMUTABLE and a file system with the immutable attribute)", p, err)
		}
	}
	return undo
}

// TestPprofOnlyWhenAsked: --pprof-addr serves Go's profiles on its own
// address, and stops with the hub; without it the API has no such route.
func TestPprofOnlyWhenAsked(t *testing.T) {
	s := testSettings(t, t.TempDir())
	s.PprofAddr = freePort(t)
	ks, err := kinds(s)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := startTestHub(t, s, ks)
	if code, body := httpGet(t, "http://"+s.PprofAddr+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("pprof heap: %d %.200s", code, body)
	}
	if code, _ := httpGet(t, "http://"+h.api.Addr()+"/debug/pprof/heap"); code != 404 {
		t.Fatalf("the API serves /debug/pprof/: %d", code)
	}
	if err := h.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _ := httpGet(t, "http://"+s.PprofAddr+"/debug/pprof/"); code != 0 {
		t.Fatalf("pprof still answers after the stop: %d", code)
	}
}

// TestHubTunesGOGCUnlessTold: a hub process tunes its collector (a small
// hub's heap gets Go's default, as the runtime itself reports on /metrics,
// and its start-up line says gogc=auto); a GOGC in the environment wins.
func TestHubTunesGOGCUnlessTold(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want float64
		says string
	}{{[]string{"GOGC="}, 100, "gogc=auto"}, {[]string{"GOGC=70"}, 70, "gogc=70"}} {
		addr := freePort(t)
		h := startChild(t, c.env, "serve", "--data-dir", t.TempDir(), "--http-addr", addr)
		var got float64
		bustest.Eventually(t, 10*time.Second, func() error {
			if code, _ := httpGet(t, "http://"+addr+"/healthz"); code == 0 {
				return fmt.Errorf("not up")
			}
			mfs, _ := scrape(t, "http://"+addr)
			v, ok := value(mfs, "go_gc_gogc_percent")
			if !ok {
				return fmt.Errorf("no go_gc_gogc_percent")
			}
			got = v
			return nil
		})
		if got != c.want || !strings.Contains(h.logs.String(), c.says) {
			t.Fatalf("%v: go_gc_gogc_percent %v, want %v; logs want %s:\n%s", c.env, got, c.want, c.says, h.logs)
		}
		if code, _ := h.terminate(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// TestGCTunerFollowsTheLiveHeap: the collector's headroom is the larger of
// 64 MiB and 30 % of the live heap; with 400 MiB live the tuner sets GOGC
// to 30, and back to 100 once it is gone (the runtime's own figure).
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{{0, 100}, {10 << 20, 100}, {64 << 20, 100}, {128 << 20, 50}, {214 << 20, 30}, {1 << 30, 30}} {
		if got := gogcFor(c.live); got != c.want {
			t.Errorf("gogcFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	tuner := newGCTuner()
	ballast := make([]byte, 400<<20) // live once allocated: no need to write it
	runtime.GC()
	if g := tuner.adjust(); g != 30 || gogc() != 30 {
		t.Fatalf("with 400 MiB live: tuner %d, runtime %d; want 30", g, gogc())
	}
	runtime.KeepAlive(ballast)
	runtime.GC() // ballast is no longer used: collected
	if g := tuner.adjust(); g != 100 || gogc() != 100 {
		t.Fatalf("after it is gone: tuner %d, runtime %d; want 100", g, gogc())
	}
}
