package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// ingestMain measures what ringwatch adds on top of NATS: the load generator
// (`ringwatch loadgen`, a separate process) publishes realistic samples over
// NATS TCP, first into the transport's floor (an embedded nats-server with
// one in-process subscriber that only counts, in a process of its own), then
// into a hub; it reports each one's CPU per message over the same window,
// and the hub's resident memory, drops and publish-to-ring latency, also
// during snapshot passes.
func ingestMain(args []string) int {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	bin := fs.String("bin", "", "the ringwatch binary")
	hosts := fs.Int("hosts", 2000, "simulated hosts")
	interval := fs.Duration("interval", time.Second, "each host's publish interval")
	window := fs.Duration("window", 60*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", 10*time.Second, "load before measuring")
	shape := fs.String("shape", "8,4,3,6", "the hosts' shape (loadgen --shape)")
	conns := fs.Int("conns", 4, "loadgen's NATS connections")
	snapshot := fs.Duration("snapshot-interval", time.Minute, "the hub's --snapshot-interval")
	skipFloor := fs.Bool("no-floor", false, "measure the hub only")
	floorTCP := fs.Bool("floor-tcp", false, "the floor's subscriber connects over loopback TCP (not the issue's floor: for comparison)")
	skipHub := fs.Bool("no-hub", false, "measure the floor only")
	extra := fs.String("hub-args", "", "more arguments for the hub, space-separated")
	backfill := fs.Bool("backfill", false, "fill every ring of the hub's hosts first (loadgen --backfill), to measure at full rings, where whole files are rewritten: give -warmup time for it (12m for 2,000 hosts) and a -window that holds one rewrite of every host (17m)")
	_ = fs.Parse(args)
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rwbench ingest: -bin is required")
		return 2
	}
	load := func(natsAddr, apiURL string) (*exec.Cmd, *bufio.Scanner, error) {
		a := []string{"loadgen", "--bus", "nats://" + natsAddr, "--hosts", strconv.Itoa(*hosts), "--interval", interval.String(),
			"--duration", (*warmup + *window + 2*time.Second).String(), "--shape", *shape, "--conns", strconv.Itoa(*conns),
			"--churn", "0", "--json"}
		if apiURL != "" {
			a = append(a, "--api", apiURL)
			if *backfill { // the floor only counts: its load starts live
				a = append(a, "--backfill")
			}
		}
		cmd := exec.Command(*bin, a...)
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		return cmd, bufio.NewScanner(out), nil
	}
	// The floor and the hub run side by side, each with its own load
	// generator, and are measured over the same window: this machine's
	// speed drifts by tens of percent from minute to minute.
	var floor *exec.Cmd
	var floorCount atomic.Int64
	if !*skipFloor {
		natsAddr := freeAddr()
		floor = exec.Command(os.Args[0], "floor-server", "-addr", natsAddr, "-tcp="+strconv.FormatBool(*floorTCP))
		floor.Stderr = os.Stderr
		flOut, _ := floor.StdoutPipe()
		if err := floor.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = floor.Process.Signal(syscall.SIGTERM); _ = floor.Wait() }()
		counts := bufio.NewScanner(flOut)
		if !counts.Scan() || counts.Text() != "ready" {
			fmt.Fprintln(os.Stderr, "the floor server did not start")
			return 1
		}
		go func() {
			for counts.Scan() {
				if n, err := strconv.ParseInt(strings.TrimPrefix(counts.Text(), "count "), 10, 64); err == nil {
					floorCount.Store(n)
				}
			}
		}()
		lg, _, err := load(natsAddr, "")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = lg.Wait() }()
	}
	if *skipHub && floor == nil {
		return 0
	}
	var h *hub
	var lg *exec.Cmd
	var report *bufio.Scanner
	base := ""
	if !*skipHub {
		httpAddr, natsAddr := freeAddr(), freeAddr()
		hubArgs := []string{"--nats-addr", natsAddr, "--nats-insecure", "--snapshot-interval", snapshot.String()}
		if *extra != "" {
			hubArgs = append(hubArgs, strings.Fields(*extra)...)
		}
		var err error
		if h, err = startHub(*bin, httpAddr, hubArgs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer h.stop()
		base = "http://" + httpAddr
		if lg, report, err = load(natsAddr, base); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	time.Sleep(*warmup) // not synchronisation: the start-up is left out on purpose
	var fcpu0, fn0 int64
	if floor != nil {
		fcpu0, _ = cpuTicks(floor.Process.Pid)
		fn0 = floorCount.Load()
	}
	floorDone := func() float64 {
		if floor == nil {
			return 0
		}
		fcpu1, _ := cpuTicks(floor.Process.Pid)
		msgs := float64(floorCount.Load() - fn0)
		perMsg := float64(fcpu1-fcpu0) / 100 / msgs * 1e6
		fmt.Printf("floor (embedded nats-server, one in-process subscriber that counts): %.0f messages in %s, %.1f µs of CPU per message\n",
			msgs, window.Round(time.Second), perMsg)
		return perMsg
	}
	if h == nil {
		time.Sleep(*window)
		floorDone()
		return 0
	}
	pid := h.pid()
	cpu0, _ := cpuTicks(pid)
	first, err := readStats(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Sample the hub's figures every second, to find the latency during
	// snapshot passes.
	var samples []*api.Stats
	var maxRSS int64
	for end := time.Now().Add(*window); time.Now().Before(end); {
		time.Sleep(time.Second)
		if st, err := readStats(base); err == nil {
			samples = append(samples, st)
		}
		if rss, err := statusKB(pid, "VmRSS"); err == nil {
			maxRSS = max(maxRSS, rss)
		}
	}
	cpu1, _ := cpuTicks(pid)
	floorPerMsg := floorDone()
	last := samples[len(samples)-1]
	received := float64(last.Pipeline.Received - first.Pipeline.Received)
	hubPerMsg := float64(cpu1-cpu0) / 100 / received * 1e6
	lat := latencyDelta(first, last)
	during, passes := latencyDuringPasses(first, samples)
	rss, _ := statusKB(pid, "VmRSS")
	fmt.Printf("hub: %.0f samples in %s (%.0f/s), %.1f µs of CPU per sample = %.1f %% of one core; RSS %.1f MB (max %.1f MB), %.1f KB per host\n",
		received, window.Round(time.Second), received/window.Seconds(), hubPerMsg, float64(cpu1-cpu0)/100/window.Seconds()*100,
		float64(rss)/1024, float64(maxRSS)/1024, float64(rss)/float64(*hosts))
	if floorPerMsg > 0 {
		fmt.Printf("hub / floor: %.2fx (ringwatch adds %.1f µs per sample on top of the transport)\n", hubPerMsg/floorPerMsg, hubPerMsg-floorPerMsg)
	}
	fmt.Printf("publish-to-ring latency over the window: p50 <= %s, p99 <= %s, max <= %s; during %d snapshot passes: p99 <= %s\n",
		bound(lat.Quantile(0.5)), bound(lat.Quantile(0.99)), bound(lat.Quantile(1)), passes, bound(during.Quantile(0.99)))
	if a, b := first.Snapshots, last.Snapshots; a != nil && b != nil {
		entries := b.JournalEntries - a.JournalEntries
		fmt.Printf("state written over the window: %d whole files (%d parts copied), %d journal entries, %.1f MB\n",
			b.Writes-a.Writes-entries, b.PartsCopied-a.PartsCopied, entries, float64(b.BytesWritten-a.BytesWritten)/1e6)
	}
	_ = lg.Wait()
	for report.Scan() {
		fmt.Println("loadgen:", report.Text())
	}
	fmt.Printf("hub dropped: %v\n", droppedDelta(first, last))
	return 0
}

// floorMain is the transport's floor: an embedded nats-server on addr with
// one in-process subscriber to ringwatch.raw.> that only counts. It prints
// "ready", then the count every 100 ms.
func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:14222", "NATS listen address")
	tcp := fs.Bool("tcp", false, "the subscriber connects over loopback TCP instead of in-process")
	_ = fs.Parse(args)
	srv, err := bus.Start(bus.Options{Addr: *addr, Log: bustest.Quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Shutdown()
	conn, err := srv.Connect("floor")
	if *tcp {
		conn, err = bus.DialOnce("nats://"+*addr, "floor")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var n atomic.Int64
	ch := make(chan *bus.Msg, 8192)
	if _, err := conn.ChanSubscribe(bus.RawPrefix+">", ch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for range ch {
			n.Add(1)
		}
	}()
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-sig:
			return 0
		case <-t.C:
			fmt.Println("count", n.Load())
		}
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readStats(base string) (*api.Stats, error) {
	resp, err := http.Get(base + "/api/v1/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st api.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	if st.Pipeline == nil {
		return nil, fmt.Errorf("no pipeline in the stats")
	}
	return &st, nil
}

// latencyOf is a reading's latency histogram summed over the periods.
func latencyOf(st *api.Stats) actors.HistogramStats {
	var h actors.HistogramStats
	for _, p := range st.Pipeline.Periods {
		h = h.Plus(p.Latency)
	}
	return h
}

func latencyDelta(a, b *api.Stats) actors.HistogramStats { return latencyOf(b).Since(latencyOf(a)) }

// latencyDuringPasses sums the latency of the one-second samples that
// overlap a snapshot pass (a pass ends in the sample where the pass count
// grew, and began its duration earlier).
func latencyDuringPasses(first *api.Stats, samples []*api.Stats) (actors.HistogramStats, int) {
	var out actors.HistogramStats
	passes := 0
	prev := first
	for i, st := range samples {
		if st.Snapshots != nil && prev.Snapshots != nil && st.Snapshots.Passes > prev.Snapshots.Passes {
			passes++
			span := int(math.Ceil(st.Snapshots.LastDuration)) + 1
			for j := max(0, i-span); j <= min(len(samples)-1, i+1); j++ {
				before := first
				if j > 0 {
					before = samples[j-1]
				}
				out = out.Plus(latencyDelta(before, samples[j]))
			}
		}
		prev = st
	}
	return out, passes
}

func bound(s float64) string {
	if math.IsInf(s, 0) {
		return "inf"
	}
	return time.Duration(s * float64(time.Second)).String()
}

func droppedDelta(a, b *api.Stats) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range b.Pipeline.Dropped {
		if d := v - a.Pipeline.Dropped[k]; d > 0 {
			out[k] = d
		}
	}
	for i, p := range b.Pipeline.Periods {
		for k, v := range p.Dropped {
			if d := v - a.Pipeline.Periods[i].Dropped[k]; d > 0 {
				out[p.Period+"/"+k] = d
			}
		}
	}
	for i, m := range b.Pipeline.Mailboxes {
		if d := m.Dropped - a.Pipeline.Mailboxes[i].Dropped; d > 0 {
			out["mailbox/"+m.Name] = d
		}
	}
	return out
}
