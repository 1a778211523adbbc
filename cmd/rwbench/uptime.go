package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// uptimeMain starts a keep-alive HTTP server here and a hub in its own
// process with that many routes pointing at it, and reports the hub's CPU
// time over wall time and per check. The server's cost is in this process,
// so it is excluded.
func uptimeMain(args []string) int {
	fs := flag.NewFlagSet("uptime", flag.ExitOnError)
	bin := fs.String("bin", "", "the ringwatch binary")
	n := fs.Int("routes", 1000, "HTTP routes")
	interval := fs.Duration("interval", 5*time.Second, "each route's check interval")
	window := fs.Duration("window", 2*time.Minute, "how long to measure")
	addr := fs.String("http-addr", "127.0.0.1:18091", "the hub's API address")
	paused := fs.Bool("paused", false, "pause every route: measures publishing statuses without checks")
	_ = fs.Parse(args)
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rwbench uptime: -bin is required")
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cfgDir, err := os.MkdirTemp("", "rwbench-cfg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(cfgDir)
	var cfg strings.Builder
	cfg.WriteString("routes:\n")
	for i := range *n {
		fmt.Fprintf(&cfg, "  - alias: route-%04d\n    url: http://%s/r/%d\n    interval: %s\n    paused: %v\n", i, ln.Addr(), i, interval, *paused)
	}
	cfgPath := filepath.Join(cfgDir, "ringwatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hub, err := startHub(*bin, *addr, "--config", cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer hub.stop()
	time.Sleep(*interval + 5*time.Second) // every route checked once; start-up left out
	checks0, err := totalChecks(*addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v; logs:\n%s", err, hub.logs.String())
		return 1
	}
	pid := hub.pid()
	cpu0, _ := cpuTicks(pid)
	t0 := time.Now()
	time.Sleep(*window)
	cpu1, _ := cpuTicks(pid)
	wall := time.Since(t0)
	checks1, _ := totalChecks(*addr)
	healthy, _ := countHealthy(*addr)
	cpuSec := float64(cpu1-cpu0) / 100
	checks := checks1 - checks0
	fmt.Printf("%d routes every %s for %s: %d checks (%.0f/s), %d healthy now; hub cpu %.2fs = %.2f%% of one core, %.1f µs per check\n",
		*n, interval, wall.Round(time.Second), checks, float64(checks)/wall.Seconds(), healthy, cpuSec, cpuSec/wall.Seconds()*100,
		cpuSec/float64(max(checks, 1))*1e6)
	return 0
}

// totalChecks sums the routes' check counters from the latest uptime sample.
func totalChecks(addr string) (uint64, error) {
	var s struct {
		Statuses map[string]struct {
			Status string `json:"status"`
			Checks uint64 `json:"checks"`
		} `json:"statuses"`
	}
	resp, err := http.Get("http://" + addr + "/api/v1/metrics/uptime")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, err
	}
	var n uint64
	for _, r := range s.Statuses {
		n += r.Checks
	}
	return n, nil
}

func countHealthy(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/metrics/uptime")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Count(string(b), `"status":"healthy"`), nil
}
