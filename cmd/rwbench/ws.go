package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// wsMain starts a hub, connects the clients from another process, and
// reports the hub's CPU time over wall time while they watch one query.
func wsMain(args []string) int {
	fs := flag.NewFlagSet("ws", flag.ExitOnError)
	bin := fs.String("bin", "", "the ringwatch binary")
	clients := fs.Int("clients", 1000, "WebSocket clients")
	window := fs.Duration("window", 60*time.Second, "how long to measure")
	query := fs.String("query", "/api/v1/metrics/system_info?interval=1s", "what every client watches")
	ping := fs.Duration("ping", 0, "clients also send a text ping this often (GoDoxy's web UI: 2s)")
	addr := fs.String("http-addr", "127.0.0.1:18090", "the hub's API address")
	_ = fs.Parse(args)
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rwbench ws: -bin is required")
		return 2
	}
	hub, err := startHub(*bin, *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer hub.stop()
	cl := exec.Command(os.Args[0], "ws-clients", "-url", "ws://"+*addr+*query, "-n", fmt.Sprint(*clients), "-ping", ping.String())
	cl.Stderr = os.Stderr
	out, _ := cl.StdoutPipe()
	if err := cl.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready") {
		fmt.Fprintln(os.Stderr, "clients did not connect:", lines.Text())
		return 1
	}
	time.Sleep(2 * time.Second) // let the connection burst settle before measuring
	pid := hub.pid()
	cpu0, _ := cpuTicks(pid)
	t0 := time.Now()
	time.Sleep(*window)
	cpu1, _ := cpuTicks(pid)
	wall := time.Since(t0)
	rss, _ := statusKB(pid, "VmRSS")
	_ = cl.Process.Signal(syscall.SIGTERM)
	lines.Scan()
	frames := lines.Text()
	_ = cl.Wait()
	cpuSec := float64(cpu1-cpu0) / 100
	fmt.Printf("%d clients on %s for %s: hub cpu %.2fs = %.2f%% of one core; RSS %.1f MB; clients got %s\n",
		*clients, *query, wall.Round(time.Second), cpuSec, cpuSec/wall.Seconds()*100, float64(rss)/1024, frames)
	return 0
}

// wsClients connects n clients to url, prints "ready" when all are up, and
// counts frames until SIGTERM, then prints the count.
func wsClients(args []string) int {
	fs := flag.NewFlagSet("ws-clients", flag.ExitOnError)
	url := fs.String("url", "", "WebSocket URL")
	n := fs.Int("n", 1000, "clients")
	ping := fs.Duration("ping", 0, "send a text ping this often")
	_ = fs.Parse(args)
	var frames atomic.Int64
	var conns []*websocket.Conn
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	for i := range *n {
		c, _, err := dialer.Dial(*url, nil)
		if err != nil {
			fmt.Printf("failed at client %d: %v\n", i, err)
			return 1
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				frames.Add(1)
			}
		})
		if *ping > 0 {
			wg.Go(func() {
				t := time.NewTicker(*ping)
				defer t.Stop()
				for range t.C {
					if c.WriteMessage(websocket.TextMessage, []byte("ping")) != nil {
						return
					}
				}
			})
		}
	}
	fmt.Println("ready", len(conns))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Printf("%d frames\n", frames.Load())
	for _, c := range conns {
		c.Close()
	}
	return 0
}
