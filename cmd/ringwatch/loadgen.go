package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus"
)

// loadgenConfig is `ringwatch loadgen`'s flags.
type loadgenConfig struct {
	bus      string
	hosts    int
	interval time.Duration
	duration time.Duration
	conns    int
	prefix   string
	shape    string  // "varied", or "cores,disks,interfaces,sensors"
	churn    float64 // share of hosts that go away, per minute, for 10 s to 5 min
	backfill bool    // first fill every ring of every host with back-dated samples
	seed     uint64
	apiURL   string
	apiToken string
	asJSON   bool
}

func parseLoadgen(args []string, stderr io.Writer) (loadgenConfig, error) {
	var c loadgenConfig
	fs := flag.NewFlagSet("ringwatch loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bus, "bus", "nats://127.0.0.1:4222", "the hub's NATS URL(s), comma-separated")
	fs.IntVar(&c.hosts, "hosts", 100, "simulated hosts")
	fs.DurationVar(&c.interval, "interval", time.Second, "how often each host publishes")
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to publish (0: until interrupted)")
	fs.IntVar(&c.conns, "conns", 4, "NATS connections the hosts are spread over")
	fs.StringVar(&c.prefix, "prefix", "load", "host names are <prefix>-00001, ...")
	fs.StringVar(&c.shape, "shape", "varied", `"varied" (1-64 cores, 1-12 disks, 1-8 interfaces, 0-20 sensors) or "cores,disks,interfaces,sensors"`)
	fs.Float64Var(&c.churn, "churn", 0.01, "share of hosts that go away each minute, for 10 s to 5 min")
	fs.BoolVar(&c.backfill, "backfill", false, "first publish back-dated samples that fill every period of every host (about 1,500 per host, three per bucket)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed gives the same hosts")
	fs.StringVar(&c.apiURL, "api", "", "the hub's API (http://127.0.0.1:8080): report what it received, dropped and how late")
	fs.StringVar(&c.apiToken, "api-token", "", "the hub's --api-token")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.hosts < 1 || c.conns < 1 || c.interval < 10*time.Millisecond {
		return c, errors.New("loadgen: --hosts and --conns must be at least 1, --interval at least 10ms")
	}
	if _, err := parseShape(c.shape); err != nil {
		return c, err
	}
	return c, nil
}

// shape is a host's hardware.
type shape struct{ cores, disks, ifaces, sensors int }

// parseShape returns nil for "varied".
func parseShape(s string) (*shape, error) {
	if s == "varied" {
		return nil, nil
	}
	var n [4]int
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("loadgen: --shape %q: want varied or cores,disks,interfaces,sensors", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 256 {
			return nil, fmt.Errorf("loadgen: --shape %q: %q is not a count", s, p)
		}
		n[i] = v
	}
	if n[0] < 1 {
		return nil, fmt.Errorf("loadgen: --shape %q: at least one core", s)
	}
	return &shape{n[0], n[1], n[2], n[3]}, nil
}

// simHost is one simulated host: its shape and the state its values walk
// from. Counters only rise; gauges move a little every sample.
type simHost struct {
	name     string
	subject  string
	sh       shape
	rng      *rand.Rand
	cpu      []float64
	memTotal uint64
	memUsed  uint64
	diskTot  []uint64
	diskUsed []uint64
	rd, wr   []uint64 // disk byte counters
	rc, wc   []uint64 // disk op counters
	tx, rx   []uint64 // interface byte counters
	temp     []float64
	load     [3]float64
	boot     int64
	last     int64 // timestamp of the previous sample (for rates)
	away     time.Time
}

func newSimHost(i int, prefix string, fixed *shape, seed uint64) *simHost {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	sh := shape{1 + rng.IntN(64), 1 + rng.IntN(12), 1 + rng.IntN(8), rng.IntN(21)}
	if fixed != nil {
		sh = *fixed
	}
	name := fmt.Sprintf("%s-%05d", prefix, i+1)
	h := &simHost{name: name, subject: bus.Raw(bus.Token(name), "system_info"), sh: sh, rng: rng,
		memTotal: uint64(4+rng.IntN(252)) << 30, boot: 1_790_000_000 + rng.Int64N(1_000_000)}
	h.memUsed = h.memTotal / 4
	for range sh.cores {
		h.cpu = append(h.cpu, rng.Float64()*50)
	}
	for range sh.disks {
		t := uint64(64+rng.IntN(4000)) << 30
		h.diskTot = append(h.diskTot, t)
		h.diskUsed = append(h.diskUsed, t/3)
		h.rd, h.wr = append(h.rd, rng.Uint64N(1<<40)), append(h.wr, rng.Uint64N(1<<40))
		h.rc, h.wc = append(h.rc, rng.Uint64N(1<<30)), append(h.wc, rng.Uint64N(1<<30))
	}
	for range sh.ifaces {
		h.tx, h.rx = append(h.tx, rng.Uint64N(1<<42)), append(h.rx, rng.Uint64N(1<<42))
	}
	for range sh.sensors {
		h.temp = append(h.temp, 30+rng.Float64()*30)
	}
	return h
}

func walk(rng *rand.Rand, x, step, lo, hi float64) float64 {
	return math.Min(hi, math.Max(lo, x+(rng.Float64()*2-1)*step))
}

// appendSample appends one system_info sample at ts, in the shape the
// systeminfo poller publishes, and moves the host's state on.
func (h *simHost) appendSample(b []byte, ts int64) []byte {
	dt := float64(ts - h.last)
	if h.last == 0 || dt <= 0 {
		dt = 1
	}
	h.last = ts
	rng := h.rng
	// CPU figures come from tick ratios: arbitrary fractions.
	var avg float64
	for i := range h.cpu {
		h.cpu[i] = walk(rng, h.cpu[i], 7.3, 0, 100)
		avg += h.cpu[i]
	}
	avg /= float64(len(h.cpu))
	h.memUsed = uint64(walk(rng, float64(h.memUsed), float64(h.memTotal)/200, float64(h.memTotal)/10, float64(h.memTotal)*0.95)) &^ 4095
	for i := range h.load {
		h.load[i] = math.Round(walk(rng, h.load[i], 0.2/float64(i+1), 0, float64(h.sh.cores))*65536) / 65536
	}
	b = append(b, `{"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"cpu_average":`...)
	b = appendF64(b, avg)
	b = append(b, `,"memory":{"available":`...)
	b = strconv.AppendUint(b, h.memTotal-h.memUsed, 10)
	b = append(b, `,"used":`...)
	b = strconv.AppendUint(b, h.memUsed, 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendUint(b, h.memTotal, 10)
	b = append(b, `,"used_percent":`...)
	b = appendF64(b, float64(h.memUsed)/float64(h.memTotal)*100)
	b = append(b, `},"disks":{`...)
	for i := range h.diskTot {
		if i > 0 {
			b = append(b, ',')
		}
		h.diskUsed[i] = min(h.diskTot[i], h.diskUsed[i]+rng.Uint64N(1<<20)&^4095)
		free := h.diskTot[i] - h.diskUsed[i]
		b = fmt.Appendf(b, `"/dev/sd%c1":{"path":"/mnt/d%d","fstype":"ext4","total":%d,"free":%d,"used":%d,"used_percent":`,
			'a'+rune(i%26), i, h.diskTot[i], free, h.diskUsed[i])
		b = appendF64(b, float64(h.diskUsed[i])/float64(h.diskTot[i])*100)
		b = append(b, '}')
	}
	b = append(b, `},"disks_io":{`...)
	for i := range h.rd {
		if i > 0 {
			b = append(b, ',')
		}
		rb, wb := rng.Uint64N(50<<20)&^511, rng.Uint64N(20<<20)&^511
		ro, wo := rng.Uint64N(800), rng.Uint64N(400)
		h.rd[i] += rb
		h.wr[i] += wb
		h.rc[i] += ro
		h.wc[i] += wo
		b = fmt.Appendf(b, `"sd%c":{"readCount":%d,"writeCount":%d,"readBytes":%d,"writeBytes":%d,"name":"sd%c","iops":%d,"readSpeed":`,
			'a'+rune(i%26), h.rc[i], h.wc[i], h.rd[i], h.wr[i], 'a'+rune(i%26), uint64(math.Round(float64(ro+wo)/dt)))
		b = appendF32(b, float32(float64(rb)/dt))
		b = append(b, `,"writeSpeed":`...)
		b = appendF32(b, float32(float64(wb)/dt))
		b = append(b, '}')
	}
	var txAll, rxAll uint64
	var upAll, downAll float32
	ifaces := make([]byte, 0, 128*len(h.tx))
	for i := range h.tx {
		if i > 0 {
			ifaces = append(ifaces, ',')
		}
		up, down := rng.Uint64N(5<<20), rng.Uint64N(20<<20)
		h.tx[i] += up
		h.rx[i] += down
		txAll += h.tx[i]
		rxAll += h.rx[i]
		us, ds := float32(float64(up)/dt), float32(float64(down)/dt)
		upAll += us
		downAll += ds
		ifaces = fmt.Appendf(ifaces, `"eth%d":{"bytes_sent":%d,"bytes_recv":%d,"upload_speed":`, i, h.tx[i], h.rx[i])
		ifaces = appendF32(ifaces, us)
		ifaces = append(ifaces, `,"download_speed":`...)
		ifaces = appendF32(ifaces, ds)
		ifaces = append(ifaces, '}')
	}
	b = append(b, `},"network":{"bytes_sent":`...)
	b = strconv.AppendUint(b, txAll, 10)
	b = append(b, `,"bytes_recv":`...)
	b = strconv.AppendUint(b, rxAll, 10)
	b = append(b, `,"upload_speed":`...)
	b = appendF32(b, upAll)
	b = append(b, `,"download_speed":`...)
	b = appendF32(b, downAll)
	b = append(b, `},"sensors":[`...)
	for i := range h.temp {
		if i > 0 {
			b = append(b, ',')
		}
		h.temp[i] = walk(rng, h.temp[i], 0.8, 20, 95)
		b = fmt.Appendf(b, `{"name":"coretemp_core_%d","temperature":`, i)
		b = appendF32(b, float32(math.Round(h.temp[i]*1000)/1000)) // hwmon reports millidegrees
		b = append(b, `,"high":80,"critical":100}`...)
	}
	b = append(b, `],"cpu_per_core":[`...)
	for i, c := range h.cpu {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendF64(b, c)
	}
	b = append(b, `],"load_avg":{"load1":`...)
	b = appendF64(b, h.load[0])
	b = append(b, `,"load5":`...)
	b = appendF64(b, h.load[1])
	b = append(b, `,"load15":`...)
	b = appendF64(b, h.load[2])
	b = append(b, `},"swap":{"total":2147483648,"used":0,"free":2147483648,"used_percent":0},"interfaces":{`...)
	b = append(b, ifaces...)
	b = append(b, `},"uptime":`...)
	b = strconv.AppendInt(b, ts-h.boot, 10)
	b = append(b, `,"boot_time":`...)
	b = strconv.AppendInt(b, h.boot, 10)
	return append(b, '}')
}

func appendF64(b []byte, x float64) []byte { return strconv.AppendFloat(b, x, 'f', -1, 64) }
func appendF32(b []byte, x float32) []byte { return strconv.AppendFloat(b, float64(x), 'f', -1, 32) }

// backfillTimes are the timestamps that give three samples to every bucket
// of every period (so that, as in a live hub, a bucket's minimum, mean and
// maximum differ), oldest first, ending at now.
func backfillTimes(now int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, per := range []int64{3, 9, 36, 864, 25920} {
		for j := int64(0); j < 100; j++ {
			start := (now - j*per) / per * per
			for ts := start; ts < start+3 && ts <= now; ts++ {
				if !seen[ts] {
					seen[ts] = true
					out = append(out, ts)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// loadReport is what loadgen prints at the end.
type loadReport struct {
	Hosts       int               `json:"hosts"`
	Seconds     float64           `json:"seconds"`
	Sent        uint64            `json:"sent"`
	SendErrors  uint64            `json:"send_errors"`
	Backfilled  uint64            `json:"backfilled"`
	Bytes       uint64            `json:"bytes"`
	Received    uint64            `json:"hub_received"`
	Dropped     map[string]uint64 `json:"hub_dropped"`
	LatencyP50  float64           `json:"latency_p50_seconds"`
	LatencyP90  float64           `json:"latency_p90_seconds"`
	LatencyP99  float64           `json:"latency_p99_seconds"`
	LatencyMax  float64           `json:"latency_max_seconds"` // the upper bound of the highest bucket reached
	LatencyNote string            `json:"latency_note,omitempty"`
}

// runLoadgen publishes the simulated hosts until the duration ends or ctx
// does, then reports.
func runLoadgen(ctx context.Context, c loadgenConfig, stdout io.Writer) error {
	fixed, _ := parseShape(c.shape)
	hosts := make([]*simHost, c.hosts)
	for i := range hosts {
		hosts[i] = newSimHost(i, c.prefix, fixed, c.seed)
	}
	conns := make([]*bus.Conn, c.conns)
	for i := range conns {
		conn, err := bus.DialOnce(c.bus, fmt.Sprintf("ringwatch-loadgen-%d", i))
		if err != nil {
			return err
		}
		defer conn.Close()
		conns[i] = conn
	}
	var before *api.Stats
	if c.apiURL != "" {
		st, err := fetchStats(c.apiURL, c.apiToken)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		before = st
	}
	rep := loadReport{Hosts: c.hosts, Dropped: map[string]uint64{}}
	var sent, sendErrs, bytes, backfilled atomic.Uint64
	start := time.Now()
	publish := func(conn *bus.Conn, h *simHost, buf []byte, ts time.Time) []byte {
		buf = h.appendSample(buf[:0], ts.Unix())
		m := &bus.Msg{Subject: h.subject, Data: buf, Header: bus.Header{
			bus.SchemaHeader: {bus.SchemaVersion}, bus.SentHeader: {strconv.FormatInt(time.Now().UnixNano(), 10)}}}
		if err := conn.PublishMsg(m); err != nil {
			sendErrs.Add(1)
		} else {
			bytes.Add(uint64(len(buf)))
		}
		return buf
	}
	if c.backfill {
		times := backfillTimes(time.Now().Unix() - 1)
		var wg sync.WaitGroup
		for ci, conn := range conns {
			wg.Go(func() {
				var buf []byte
				for hi := ci; hi < len(hosts); hi += len(conns) {
					for _, ts := range times {
						buf = publish(conn, hosts[hi], buf, time.Unix(ts, 0))
						backfilled.Add(1)
					}
					_ = conn.Flush() // pace: one host at a time per connection
				}
			})
		}
		wg.Wait()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	churnRng := rand.New(rand.NewPCG(c.seed, 0xc4))
	var churnMu sync.Mutex
	var wg sync.WaitGroup
	liveStart := time.Now()
	for ci, conn := range conns {
		wg.Go(func() {
			// This connection's hosts, each at its own phase of the interval.
			var mine []*simHost
			for hi := ci; hi < len(hosts); hi += len(conns) {
				mine = append(mine, hosts[hi])
			}
			var buf []byte
			for tick := 0; ; tick++ {
				for k, h := range mine {
					due := liveStart.Add(time.Duration(tick)*c.interval + time.Duration(k*len(conns)+ci)*c.interval/time.Duration(len(hosts)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-runCtx.Done():
							_ = conn.Flush()
							return
						case <-time.After(wait):
						}
					}
					now := time.Now()
					if now.Before(h.away) {
						continue
					}
					if c.churn > 0 {
						churnMu.Lock()
						goes := churnRng.Float64() < c.churn*c.interval.Seconds()/60
						d := 10*time.Second + time.Duration(churnRng.Int64N(int64(290*time.Second)))
						churnMu.Unlock()
						if goes {
							h.away = now.Add(d)
							continue
						}
					}
					buf = publish(conn, h, buf, now)
					sent.Add(1)
				}
				if runCtx.Err() != nil {
					_ = conn.Flush()
					return
				}
			}
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.Sent, rep.SendErrors, rep.Bytes, rep.Backfilled = sent.Load(), sendErrs.Load(), bytes.Load(), backfilled.Load()
	if before != nil {
		// Let the hub catch up with what is in flight, then read its figures.
		var after *api.Stats
		want := before.Pipeline.Received + rep.Sent + rep.Backfilled
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := fetchStats(c.apiURL, c.apiToken)
			if err != nil {
				return fmt.Errorf("loadgen: %w", err)
			}
			after = st
			if st.Pipeline.Received >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		fillReport(&rep, before, after)
	}
	return printReport(stdout, rep, c.asJSON)
}

func fetchStats(base, token string) (*api.Stats, error) {
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("stats: %s", resp.Status)
	}
	var st api.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	if st.Pipeline == nil {
		return nil, errors.New("stats: the hub reports no pipeline")
	}
	return &st, nil
}

// fillReport puts the hub's figures over the run into rep: what it
// received, what it dropped and why, and publish-to-ring latency
// percentiles (the upper bounds of the histogram buckets they fall in,
// over every period's downsampler).
func fillReport(rep *loadReport, before, after *api.Stats) {
	rep.Received = after.Pipeline.Received - before.Pipeline.Received
	for k, v := range after.Pipeline.Dropped {
		if d := v - before.Pipeline.Dropped[k]; d > 0 {
			rep.Dropped[k] += d
		}
	}
	var lat actors.HistogramStats
	for i, per := range after.Pipeline.Periods {
		for k, v := range per.Dropped {
			if d := v - before.Pipeline.Periods[i].Dropped[k]; d > 0 {
				rep.Dropped[per.Period+"/"+k] += d
			}
		}
		lat = lat.Plus(per.Latency.Since(before.Pipeline.Periods[i].Latency))
	}
	for j, mb := range after.Pipeline.Mailboxes {
		if d := mb.Dropped - before.Pipeline.Mailboxes[j].Dropped; d > 0 {
			rep.Dropped["mailbox/"+mb.Name] += d
		}
	}
	rep.LatencyP50, rep.LatencyP90, rep.LatencyP99, rep.LatencyMax = lat.Quantile(0.5), lat.Quantile(0.9), lat.Quantile(0.99), lat.Quantile(1)
	rep.LatencyNote = "upper bounds of the hub's histogram buckets, over every period's downsampler"
}

func printReport(w io.Writer, r loadReport, asJSON bool) error {
	if asJSON {
		if math.IsInf(r.LatencyMax, 0) {
			r.LatencyMax = -1
		}
		if math.IsInf(r.LatencyP99, 0) {
			r.LatencyP99 = -1
		}
		return json.NewEncoder(w).Encode(r)
	}
	fmt.Fprintf(w, "loadgen: %d hosts for %.1f s: sent %d samples (%.0f/s, %.1f MB), %d backfilled, %d send errors\n",
		r.Hosts, r.Seconds, r.Sent, float64(r.Sent)/r.Seconds, float64(r.Bytes)/1e6, r.Backfilled, r.SendErrors)
	if r.LatencyNote != "" {
		fmt.Fprintf(w, "hub: received %d, dropped %v; publish-to-ring latency p50 <= %s, p90 <= %s, p99 <= %s, max <= %s\n",
			r.Received, r.Dropped, secs(r.LatencyP50), secs(r.LatencyP90), secs(r.LatencyP99), secs(r.LatencyMax))
	}
	return nil
}

func secs(s float64) string {
	if math.IsInf(s, 0) {
		return "inf"
	}
	return time.Duration(s * float64(time.Second)).String()
}
