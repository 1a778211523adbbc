package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

// trafficHost is this machine's /proc, except that /proc/net/dev is a file
// the test writes: the machine has no outside traffic to measure, so the
// test plays a host whose eth0 moves bytes (gopsutil's HOST_PROC override).
type trafficHost struct{ proc string }

func newTrafficHost(t *testing.T) *trafficHost {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	for _, d := range []string{proc + "/1", proc + "/net"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"stat", "meminfo", "diskstats", "filesystems", "1/mountinfo"} {
		if err := os.Symlink("/proc/"+f, filepath.Join(proc, f)); err != nil {
			t.Fatal(err)
		}
	}
	return &trafficHost{proc: proc}
}

func (h *trafficHost) counters(t *testing.T, recv, sent uint64) {
	t.Helper()
	data := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		fmt.Sprintf("    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: %d 1 0 0 0 0 0 0 %d 1 0 0 0 0 0 0\n", recv, sent)
	if err := os.WriteFile(filepath.Join(h.proc, "net/dev"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

type child struct {
	cmd  *exec.Cmd
	logs *bustest.Writer
}

// startChild runs main's run in a copy of the test binary.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	a, _ := json.Marshal(args)
	return startProcess(t, os.Args[0], append([]string{childArgsEnv + "=" + string(a)}, env...), "-test.run=^$")
}

// startProcess runs bin with args and env added to this process's; it is
// killed at cleanup if still running.
func startProcess(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), logs: &bustest.Writer{}}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _, _ = c.cmd.Process.Wait() })
	return c
}

// terminate sends SIGTERM and returns the exit code and how long it took.
func (c *child) terminate(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15 s after SIGTERM; logs:\n%s", c.logs)
	}
	return c.cmd.ProcessState.ExitCode(), time.Since(start)
}

func latest(t *testing.T, base string) (systeminfo.SystemInfo, error) { return latestOf(t, base, "") }

// latestOf is host's latest system_info sample (the hub's own for "").
func latestOf(t *testing.T, base, host string) (systeminfo.SystemInfo, error) {
	var si systeminfo.SystemInfo
	code, body := httpGet(t, base+"/api/v1/metrics/system_info?host="+host)
	if code != 200 {
		return si, fmt.Errorf("latest: %d %s", code, body)
	}
	return si, json.Unmarshal([]byte(body), &si)
}

// TestSIGTERMSnapshotAndRestart: SIGTERM exits 0 within 5 s with the snapshot
// written; the restarted service serves the same points, and its first new
// sample has real (non-zero) rates on a host with traffic.
func TestSIGTERMSnapshotAndRestart(t *testing.T) {
	dir := t.TempDir()
	host := newTrafficHost(t)
	host.counters(t, 1_000_000, 2_000_000)
	addr := freePort(t)
	base := "http://" + addr
	args := []string{"serve", "--data-dir", dir, "--http-addr", addr, "--host", "testhost", "--snapshot-interval", "1h"}
	env := []string{"HOST_PROC=" + host.proc}
	query := base + "/api/v1/metrics/system_info?period=5m&aggregate=memory_usage"

	first := startChild(t, env, args...)
	var before page
	bustest.Eventually(t, 15*time.Second, func() error {
		p, err := getPage(t, query)
		if err != nil || p.Total < 2 {
			return fmt.Errorf("waiting for two 5m points: %+v %v", p, err)
		}
		before = p
		return nil
	})
	code, took := first.terminate(t)
	if code != 0 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit code %d after %s, want 0 within 5 s; logs:\n%s", code, took, first.logs)
	}
	st, err := persistence.LoadFile(persistence.Path(filepath.Join(dir, "metrics"), "testhost", "system_info"), "testhost", "system_info", systeminfo.Counters)
	if err != nil || len(st.Buckets["5m"]) < 2 || st.Last == nil {
		t.Fatalf("snapshot after SIGTERM: %+v %v", st, err)
	}

	host.counters(t, 4_000_000, 3_000_000) // traffic while the service was down
	second := startChild(t, env, args...)
	var after page
	bustest.Eventually(t, 10*time.Second, func() error {
		var err error
		after, err = getPage(t, query)
		return err
	})
	// Every closed bucket comes back as it was; the newest may have taken
	// one more sample between the query and SIGTERM.
	for i, pt := range before.Data[:len(before.Data)-1] {
		if i >= len(after.Data) || !reflect.DeepEqual(after.Data[i], pt) {
			t.Fatalf("point %d before restart %v, after %v", i, pt, after.Data)
		}
	}
	var fresh systeminfo.SystemInfo
	bustest.Eventually(t, 10*time.Second, func() error {
		si, err := latest(t, base)
		if err != nil || si.Timestamp <= st.LastTime {
			return fmt.Errorf("waiting for the first new sample (restored %d, have %d): %v", st.LastTime, si.Timestamp, err)
		}
		fresh = si
		return nil
	})
	if fresh.Network.DownloadSpeed <= 0 || fresh.Network.UploadSpeed <= 0 {
		t.Fatalf("first sample after restart has network %+v, want real rates; logs:\n%s", fresh.Network, second.logs)
	}
	if code, took := second.terminate(t); code != 0 || took > 5*time.Second {
		t.Fatalf("second SIGTERM: %d after %s", code, took)
	}
}

// TestAgentResumesRatesAfterARestart: an agent keeps its last sample in its
// data folder, so its first sample after a restart has real rates too.
func TestAgentResumesRatesAfterARestart(t *testing.T) {
	host := newTrafficHost(t)
	host.counters(t, 1_000_000, 2_000_000)
	hubDir, agentDir := t.TempDir(), t.TempDir()
	addr, natsAddr := freePort(t), freePort(t)
	base := "http://" + addr
	seed, public := nkeyFor(t, agentDir, "edge")
	cfg := hubConfig(t, hubDir, "agents:\n"+agentEntry("edge", public))
	startChild(t, nil, "serve", "--config", cfg, "--data-dir", hubDir, "--http-addr", addr, "--nats-addr", natsAddr, "--host", "hub")
	agentArgs := []string{"agent", "--bus", "nats://" + natsAddr, "--host", "edge", "--data-dir", agentDir, "--nkey-seed", seed}
	env := []string{"HOST_PROC=" + host.proc}
	latestOf := func() (systeminfo.SystemInfo, error) {
		var si systeminfo.SystemInfo
		code, body := httpGet(t, base+"/api/v1/metrics/system_info?host=edge")
		if code != 200 || body == "null" {
			return si, fmt.Errorf("edge: %d %s", code, body)
		}
		return si, json.Unmarshal([]byte(body), &si)
	}
	first := startChild(t, env, agentArgs...)
	var last systeminfo.SystemInfo
	bustest.Eventually(t, 15*time.Second, func() error {
		var err error
		last, err = latestOf()
		return err
	})
	if code, _ := first.terminate(t); code != 0 {
		t.Fatalf("agent exit %d: %s", code, first.logs)
	}
	if _, err := os.Stat(filepath.Join(agentDir, "agent", "edge", "system_info.last.json")); err != nil {
		t.Fatalf("no agent state: %v", err)
	}
	host.counters(t, 5_000_000, 3_000_000)
	second := startChild(t, env, agentArgs...)
	bustest.Eventually(t, 15*time.Second, func() error {
		si, err := latestOf()
		if err != nil || si.Timestamp <= last.Timestamp {
			return fmt.Errorf("waiting for the restarted agent's first sample: %v", err)
		}
		if si.Network.DownloadSpeed <= 0 || si.Network.UploadSpeed <= 0 {
			t.Fatalf("first sample after the agent's restart: %+v; logs:\n%s", si.Network, second.logs)
		}
		return nil
	})
}
