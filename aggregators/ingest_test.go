package aggregators_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// realisticSample is a system_info sample of a modest server: 8 cores, 2 file
// systems, 3 disks, 3 interfaces, 6 sensors.
func realisticSample(ts int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"timestamp":%d,"cpu_average":12.5,"memory":{"available":12884901888,"used":4294967296,"total":17179869184,"used_percent":25},`, ts)
	b.WriteString(`"disks":{"/dev/nvme0n1p2":{"path":"/","fstype":"ext4","total":250000000000,"free":150000000000,"used":100000000000,"used_percent":40},` +
		`"/dev/sdb1":{"path":"/mnt/data","fstype":"xfs","total":1000000000000,"free":900000000000,"used":100000000000,"used_percent":10}},`)
	b.WriteString(`"disks_io":{`)
	for i, d := range []string{"nvme0n1", "sda", "sdb"} {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s":{"readCount":1200,"writeCount":3400,"readBytes":104857600,"writeBytes":209715200,"name":"%s","iops":3,"readSpeed":4096,"writeSpeed":8192}`, d, d)
	}
	b.WriteString(`},"network":{"bytes_sent":123456789,"bytes_recv":987654321,"upload_speed":1024.5,"download_speed":2048},"sensors":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"coretemp_core_%d","temperature":45.5,"high":80,"critical":100}`, i)
	}
	b.WriteString(`],"cpu_per_core":[10.5,20,30,40,5,6,7,8],"load_avg":{"load1":0.5,"load5":0.4,"load15":0.3},` +
		`"swap":{"total":2147483648,"used":0,"free":2147483648,"used_percent":0},"interfaces":{`)
	for i, n := range []string{"eth0", "eth1", "wg0"} {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s":{"bytes_sent":41152263,"bytes_recv":329218107,"upload_speed":341.5,"download_speed":682.7}`, n)
	}
	b.WriteString(`},"uptime":86400,"boot_time":1795000000}`)
	return b.String()
}

// timedSamples returns a realistic sample whose timestamp digits next(i)
// rewrites in place: one sample a second, rising.
func timedSamples() (msg []byte, next func(i int)) {
	const base = 1_795_000_000
	msg = []byte(realisticSample(base))
	at := strings.Index(string(msg), "1795000000")
	return msg, func(i int) { strconv.AppendInt(msg[at:at], base+int64(i), 10) }
}

// BenchmarkIngest is the ingest budget, exactly: decode one raw sample and add
// it to all five periods, on one goroutine.
func BenchmarkIngest(b *testing.B) {
	ks := []aggregators.Kind{{Name: "system_info", Counters: []string{"network.bytes_sent", "disks_io.*.readBytes"}}}
	p := aggregators.NewPipeline(ks, nil, nil, quiet)
	msg, next := timedSamples()
	now := time.Unix(1_900_000_000, 0)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next(i)
		if err := p.Ingest.Ingest("ringwatch.raw.h1.system_info", msg, nil, now); err != nil {
			b.Fatal(err)
		}
		for _, d := range p.Downsamplers {
			d.Add(<-d.In.C(), now)
		}
		i++
	}
}

// BenchmarkIngestActors runs the same work through the running actors: the
// ingest stage offers each sample to five downsampler goroutines. cpu-ns/op
// is the process's CPU time per sample (every thread, GC and goroutine
// hand-offs included); ns/op is wall time.
func BenchmarkIngestActors(b *testing.B) {
	ks := []aggregators.Kind{{Name: "system_info", Counters: []string{"network.bytes_sent", "disks_io.*.readBytes"}}}
	p := aggregators.NewPipeline(ks, nil, nil, quiet)
	msg, next := timedSamples()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range p.Downsamplers {
		wg.Go(func() { _ = d.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	now := time.Unix(1_900_000_000, 0)
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		next(i)
		if err := p.Ingest.Ingest("ringwatch.raw.h1.system_info", msg, nil, now); err != nil {
			b.Fatal(err)
		}
		for p.Downsamplers[0].In.Len() > 1000 {
			runtime.Gosched()
		}
		i++
	}
	for _, d := range p.Downsamplers {
		for d.Processed.Load() < uint64(i) {
			runtime.Gosched()
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
	if p.Ingest.Dropped.Load() > 0 {
		b.Fatalf("%d samples dropped", p.Ingest.Dropped.Load())
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestIngestOverTheBusCountsAndDropsBadMessages(t *testing.T) {
	srv, err := bus.Start(bus.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	sub, err := srv.Connect("ingest")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	p := aggregators.NewPipeline([]aggregators.Kind{{Name: "toy"}}, sub, nil, quiet)
	sup := actors.NewSupervisor(quiet, actors.DefaultBackoff)
	ctx := t.Context()
	if err := sup.Start(ctx, actors.Spec{Name: "ingest", Actor: p.Ingest}); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(ctx)
	waitFor(t, 5*time.Second, func() bool { return sub.NC.NumSubscriptions() == 1 })
	_ = sub.NC.Flush()
	bad := &nats.Msg{Subject: "ringwatch.raw.h1.toy", Data: []byte(`{"timestamp":1}`), Header: nats.Header{bus.SchemaHeader: {"2"}}}
	_ = pub.NC.PublishMsg(bad)
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(`{not json`))
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(`{"no":"timestamp"}`))
	_ = pub.Publish("ringwatch.raw.h1.other", []byte(`{"timestamp":1}`))
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(fmt.Sprintf(`{"timestamp":%d,"x":1}`, time.Now().Unix())))
	waitFor(t, 5*time.Second, func() bool { return p.Ingest.Received.Load() == 5 })
	c := p.Counters()
	if c["ingest_malformed"] != 2 || c["ingest_bad_schema"] != 1 || c["ingest_unknown_kind"] != 1 {
		t.Fatalf("counters %v", c)
	}
	if l := p.Ingest.Latest("h1", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":1`) {
		t.Fatalf("the good sample was not kept: %+v", l)
	}
	for _, d := range p.Downsamplers {
		if d.In.Len() != 1 {
			t.Fatalf("downsampler %s got %d samples, want 1", d.Period.Name, d.In.Len())
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkFlatten is the decode half of the ingest budget.
func BenchmarkFlatten(b *testing.B) {
	f := aggregators.NewFlattener(nil, nil)
	msg := []byte(realisticSample(1_795_000_000))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Flatten(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib is a baseline for the same run: encoding/json
// decoding the same sample into a generic map, which is only the first step
// of what the ingest stage does.
func BenchmarkDecodeStdlib(b *testing.B) {
	msg := []byte(realisticSample(1_795_000_000))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}
