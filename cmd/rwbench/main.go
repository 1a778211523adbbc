// Command rwbench measures a running ringwatch from outside, the way a user
// would: it starts the binary, lets it warm up, and reports CPU time over
// wall time and memory across a window.
//
//	go build -o /tmp/ringwatch ./cmd/ringwatch
//	go run ./cmd/rwbench idle -bin /tmp/ringwatch -window 5m
//	go run ./cmd/rwbench ws -bin /tmp/ringwatch -clients 1000 -window 60s
//	go run ./cmd/rwbench uptime -bin /tmp/ringwatch -routes 1000 -window 2m
//
// ws runs the WebSocket clients in a separate process (rwbench ws-clients),
// so that only the hub's own cost is measured.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "ws" {
		os.Exit(wsMain(os.Args[2:]))
	}
	if len(os.Args) >= 2 && os.Args[1] == "uptime" {
		os.Exit(uptimeMain(os.Args[2:]))
	}
	if len(os.Args) >= 2 && os.Args[1] == "ingest" {
		os.Exit(ingestMain(os.Args[2:]))
	}
	if len(os.Args) >= 2 && os.Args[1] == "floor-server" {
		os.Exit(floorMain(os.Args[2:]))
	}
	if len(os.Args) >= 2 && os.Args[1] == "ws-clients" {
		os.Exit(wsClients(os.Args[2:]))
	}
	if len(os.Args) < 2 || os.Args[1] != "idle" {
		fmt.Fprintln(os.Stderr, "usage: rwbench idle -bin PATH [-window 5m] [-warmup 15s] | rwbench ws -bin PATH [-clients 1000] [-window 60s]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	bin := fs.String("bin", "", "the ringwatch binary")
	window := fs.Duration("window", 5*time.Minute, "how long to measure")
	warmup := fs.Duration("warmup", 15*time.Second, "how long to wait before measuring")
	addr := fs.String("http-addr", "127.0.0.1:18080", "the API address for the hub")
	_ = fs.Parse(os.Args[2:])
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rwbench: -bin is required")
		os.Exit(2)
	}
	if err := idle(*bin, *addr, *window, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "rwbench:", err)
		os.Exit(1)
	}
}

// idle runs the hub with 1 s polling and no clients and reports its cost.
func idle(bin, addr string, window, warmup time.Duration) error {
	h, err := startHub(bin, addr, "--poll-interval", "1s")
	if err != nil {
		return err
	}
	defer h.stop()
	pid := h.pid()
	time.Sleep(warmup) // not synchronisation: the start-up cost is left out on purpose
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return fmt.Errorf("%w; logs:\n%s", err, h.logs.String())
	}
	t0 := time.Now()
	var maxRSS int64
	for time.Since(t0) < window {
		time.Sleep(time.Second)
		rss, err := statusKB(pid, "VmRSS")
		if err != nil {
			return fmt.Errorf("the hub died: %w; logs:\n%s", err, h.logs.String())
		}
		maxRSS = max(maxRSS, rss)
	}
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	clk := 100.0 // USER_HZ on Linux
	cpuSec := float64(cpu1-cpu0) / clk
	rss, _ := statusKB(pid, "VmRSS")
	fmt.Printf("window %s: cpu %.2fs = %.3f%% of one core; RSS now %.1f MB, max %.1f MB\n",
		wall.Round(time.Second), cpuSec, cpuSec/wall.Seconds()*100, float64(rss)/1024, float64(maxRSS)/1024)
	return nil
}

// cpuTicks is utime+stime of pid in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

func statusKB(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s not found", key)
}
