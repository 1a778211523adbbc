package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

var quiet = bustest.Quiet()

// timedSamples returns the realistic system_info sample of the codec's
// benchmarks (8 cores, 2 file systems, 3 disks, 3 interfaces, 6 sensors)
// whose timestamp digits next(i) rewrites in place: one sample a second.
func timedSamples(t testing.TB) (msg []byte, next func(i int)) {
	msg, err := os.ReadFile("../../aggregators/testdata/system_info.json")
	if err != nil {
		t.Fatal(err)
	}
	const base = 1_795_000_000
	at := strings.Index(string(msg), `"timestamp":1795000000`) + len(`"timestamp":`)
	return msg, func(i int) { strconv.AppendInt(msg[at:at], base+int64(i), 10) }
}

// BenchmarkIngest is the ingest budget, exactly: decode one raw sample and add
// it to all five periods, on one goroutine.
func BenchmarkIngest(b *testing.B) {
	ks := []aggregators.Kind{{Name: "system_info", Counters: []string{"network.bytes_sent", "disks_io.*.readBytes"}}}
	p := pipeline.New(ks, nil, nil, quiet)
	msg, next := timedSamples(b)
	now := time.Unix(1_900_000_000, 0)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next(i)
		if err := p.IngestNow("ringwatch.raw.h1.system_info", msg, nil, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkIngestActors runs the same work through the running actors: each
// sample is handed to its host's shard goroutine. cpu-ns/op is the process's
// CPU time per sample (every thread, GC and goroutine hand-offs included);
// ns/op is wall time.
func BenchmarkIngestActors(b *testing.B) {
	ks := []aggregators.Kind{{Name: "system_info", Counters: []string{"network.bytes_sent", "disks_io.*.readBytes"}}}
	p := pipeline.New(ks, nil, nil, quiet)
	msg, next := timedSamples(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range p.Shards {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		next(i)
		if err := p.Offer("ringwatch.raw.h1.system_info", msg, nil); err != nil {
			b.Fatal(err)
		}
		for p.Stats().Mailboxes[1].Depth > 1000 {
			runtime.Gosched()
		}
		i++
	}
	for p.Stats().Periods[0].Processed < uint64(i) {
		runtime.Gosched()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
	for _, mb := range p.Stats().Mailboxes {
		if mb.Dropped > 0 {
			b.Fatalf("%s dropped %d samples", mb.Name, mb.Dropped)
		}
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startActors runs p's actors until the test ends.
func startActors(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	sup := actors.NewSupervisor(quiet, actors.DefaultBackoff)
	t.Cleanup(func() { sup.Stop(context.Background()) })
	for _, sp := range p.Specs() {
		if err := sup.Start(t.Context(), sp); err != nil {
			t.Fatal(err)
		}
	}
}

// runningIngest starts a pipeline of kind "toy" on an in-process bus, its
// actors running and its ingest subscribed, and returns it with a
// publisher's connection named name.
func runningIngest(t *testing.T, name string) (*pipeline.Pipeline, *bus.Conn) {
	t.Helper()
	srv := bustest.Server(t)
	sub, pub := bustest.Conn(t, srv, "ingest"), bustest.Conn(t, srv, name)
	p := pipeline.New([]aggregators.Kind{{Name: "toy"}}, sub, nil, quiet)
	startActors(t, p)
	bustest.Eventually(t, 5*time.Second, func() error {
		if sub.Subscriptions() != 1 {
			return fmt.Errorf("ingest not subscribed yet")
		}
		return nil
	})
	_ = sub.Flush()
	return p, pub
}

// TestIngestOverTheBusCountsAndDropsBadMessages: five messages over the
// bus, four of them bad in different ways (checked by the ingest actor or,
// for what needs decoding, by the shard); each is counted by its reason,
// and only the good one becomes the latest sample and reaches every period.
func TestIngestOverTheBusCountsAndDropsBadMessages(t *testing.T) {
	p, pub := runningIngest(t, "test")
	bad := &bus.Msg{Subject: "ringwatch.raw.h1.toy", Data: []byte(`{"timestamp":1}`), Header: bus.Header{bus.SchemaHeader: {"2"}}}
	_ = pub.PublishMsg(bad)
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(`{not json`))
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(`{"no":"timestamp"}`))
	_ = pub.Publish("ringwatch.raw.h1.other", []byte(`{"timestamp":1}`))
	_ = pub.Publish("ringwatch.raw.h1.toy", []byte(fmt.Sprintf(`{"timestamp":%d,"x":1}`, time.Now().Unix())))
	bustest.Eventually(t, 5*time.Second, func() error {
		st := p.Stats()
		if d := st.Dropped; st.Received != 5 || d["malformed"] != 2 || d["bad_schema"] != 1 || d["unknown_kind"] != 1 || d["queue_full"] != 0 {
			return fmt.Errorf("received %d, dropped %v; want 5 and 2 malformed, 1 bad schema, 1 unknown kind", st.Received, d)
		}
		if l := p.Latest("h1", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":1`) {
			return fmt.Errorf("the good sample is not the latest: %+v", l)
		}
		return nil
	})
	for _, per := range p.Stats().Periods {
		if per.Processed != 1 {
			t.Fatalf("%s processed %d samples, want the one good sample", per.Period, per.Processed)
		}
	}
}

// TestIngestDropsSamplesAnAgentSentAgain: an agent whose connection died
// sends again what the hub never confirmed, some of which the hub had. By
// their numbers (bus.SeqHeader) those are counted as duplicates and kept
// out of the buckets, while a sample the hub missed, arriving after newer
// ones, and the samples of an agent that restarted are taken.
func TestIngestDropsSamplesAnAgentSentAgain(t *testing.T) {
	p, pub := runningIngest(t, "agent")
	now := time.Now().Unix()
	send := func(boot, n uint64) {
		m := &bus.Msg{Subject: "ringwatch.raw.h1.toy", Header: bus.Header{bus.SchemaHeader: {bus.SchemaVersion},
			bus.SeqHeader: {bus.FormatSeq(boot, n)}}, Data: fmt.Appendf(nil, `{"timestamp":%d,"n":%d}`, now, n)}
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// 1, 2, 4 arrive; the connection dies; 2, 3, 4, 5 are sent again; the
	// agent restarts and numbers from 1 again.
	for _, n := range []uint64{1, 2, 4, 2, 3, 4, 5} {
		send(7, n)
	}
	send(8, 1)
	send(8, 2)
	bustest.Eventually(t, 5*time.Second, func() error {
		if st := p.Stats(); st.Received != 9 || st.Dropped["duplicate"] != 2 {
			return fmt.Errorf("received %d, dropped %v; want 9 and 2 duplicates", st.Received, st.Dropped)
		}
		return nil
	})
	for _, per := range p.Stats().Periods {
		if per.Processed != 7 {
			t.Fatalf("%s processed %d samples, want the 7 distinct ones", per.Period, per.Processed)
		}
	}
}

// TestHeldSamplesAreAllTakenOnceTheActorsRun: the ingest subscribes
// before the state is loaded (Hold); 30,000 samples of 200 hosts arrive
// meanwhile, more than its mailbox (IngestQueue) and the shards' together.
// Once the actors run, every one of them reaches its host's rings, in
// order, with nothing dropped, and what arrives afterwards is taken too.
func TestHeldSamplesAreAllTakenOnceTheActorsRun(t *testing.T) {
	const hosts, each = 200, 150
	srv := bustest.Server(t)
	sub, pub := bustest.Conn(t, srv, "ingest"), bustest.Conn(t, srv, "agents")
	p := pipeline.New([]aggregators.Kind{{Name: "toy"}}, sub, nil, quiet)
	if err := p.Ingest.Hold(); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Unix() - each
	for i := range each {
		for h := range hosts {
			if err := pub.Publish(bus.Raw(fmt.Sprintf("h%03d", h), "toy"), fmt.Appendf(nil, `{"timestamp":%d,"x":%d}`, start+int64(i), i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		// Most of them at least (the client library counts its own way),
		// many more than the ingest mailbox holds, and none taken yet.
		if waiting, dropped := p.Ingest.Held(); waiting < hosts*each-100 || dropped > 0 || p.Stats().Received > 0 {
			return fmt.Errorf("held %d, dropped %d, received %d; want about %d held", waiting, dropped, p.Stats().Received, hosts*each)
		}
		return nil
	})
	startActors(t, p)
	_ = pub.Publish(bus.Raw("h000", "toy"), fmt.Appendf(nil, `{"timestamp":%d,"x":-1}`, start+each))
	bustest.Eventually(t, 20*time.Second, func() error {
		st := p.Stats()
		if st.Received != hosts*each+1 || len(st.Dropped) > 0 && dropped(st.Dropped) > 0 {
			return fmt.Errorf("received %d, dropped %v; want %d and none", st.Received, st.Dropped, hosts*each+1)
		}
		if l := p.Latest("h000", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":-1`) {
			return fmt.Errorf("h000's latest is not the sample sent after the start: %v", l)
		}
		for _, per := range st.Periods {
			if per.Processed != hosts*each+1 {
				return fmt.Errorf("%s processed %d samples, want %d", per.Period, per.Processed, hosts*each+1)
			}
		}
		return nil
	})
}

func dropped(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestHoldIsBoundedAndCounts: what arrives past Options.HoldBytes while
// the state loads is dropped and counted (queue_full), and what was held
// is taken, oldest first.
func TestHoldIsBoundedAndCounts(t *testing.T) {
	srv := bustest.Server(t)
	sub, pub := bustest.Conn(t, srv, "ingest"), bustest.Conn(t, srv, "agents")
	p := pipeline.NewWith(pipeline.Options{HoldBytes: 64 << 10}, []aggregators.Kind{{Name: "toy"}}, sub, nil, quiet)
	if err := p.Ingest.Hold(); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Unix() - 100
	pad := strings.Repeat(" ", 1000) // 1 KB samples: the bound holds about 64
	const sent = 640
	for i := range sent {
		if err := pub.Publish(bus.Raw("h1", "toy"), fmt.Appendf(nil, `{"timestamp":%d,"x":%d}%s`, start+int64(i/10), i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	var held int
	var lost uint64
	bustest.Eventually(t, 10*time.Second, func() error {
		if held, lost = p.Ingest.Held(); held+int(lost) < sent-1 || lost == 0 {
			return fmt.Errorf("held %d, dropped %d of %d", held, lost, sent)
		}
		return nil
	})
	if held > 80 {
		t.Fatalf("held %d samples of 1 KB under a 64 KB bound", held)
	}
	startActors(t, p)
	bustest.Eventually(t, 10*time.Second, func() error {
		st := p.Stats()
		if st.Dropped["queue_full"] < lost || st.Received+st.Dropped["queue_full"] < sent-1 {
			return fmt.Errorf("received %d, dropped %v; want %d dropped as queue_full and the rest received", st.Received, st.Dropped, lost)
		}
		// The oldest were kept: the newest sample taken is one of the first.
		if l := p.Latest("h1", "toy"); l == nil || !strings.Contains(string(l.Raw), fmt.Sprintf(`"x":%d}`, st.Received-1)) {
			return fmt.Errorf("latest %v, want sample %d", l, st.Received-1)
		}
		return nil
	})
}

// TestSamplesOfAHostStillLoadingWait: while h1's saved state loads, its
// samples wait (and ask for h1 to be read next) and h2's are taken at
// once; once h1 is restored and loaded, its samples join its restored
// history, in order; past HoldBytes, samples of a host still loading are
// dropped and counted (state_loading).
func TestSamplesOfAHostStillLoadingWait(t *testing.T) {
	srv := bustest.Server(t)
	sub, pub := bustest.Conn(t, srv, "ingest"), bustest.Conn(t, srv, "agents")
	p := pipeline.NewWith(pipeline.Options{HoldBytes: 8 << 10}, []aggregators.Kind{{Name: "toy"}}, sub, nil, quiet)
	asked := make(chan string, 16)
	p.Pending([]string{"h1", "h3"}, func(host string, urgent bool) {
		if !urgent {
			asked <- host
		}
	})
	startActors(t, p)
	bustest.Eventually(t, 5*time.Second, func() error {
		if sub.Subscriptions() != 1 {
			return fmt.Errorf("ingest not subscribed yet")
		}
		return nil
	})
	start := time.Now().Unix() - 60
	send := func(host string, i int, pad string) {
		t.Helper()
		if err := pub.Publish(bus.Raw(host, "toy"), fmt.Appendf(nil, `{"timestamp":%d,"x":%d}%s`, start+int64(i), i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		send("h1", i, "")
		send("h2", i, "")
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if h := <-asked; h != "h1" {
		t.Fatalf("asked for %s to be read first, want h1", h)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		if l := p.Latest("h2", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":5}`) {
			return fmt.Errorf("h2's latest %v, want its 5th sample", l)
		}
		return nil
	})
	if got := p.Stats().Periods[0].Processed; got != 5 {
		t.Fatalf("processed %d samples while h1 loads, want h2's 5 only", got)
	}
	// h1's saved state: a bucket before its new samples.
	saved := pipeline.New([]aggregators.Kind{{Name: "toy"}}, nil, nil, quiet)
	if err := saved.IngestNow(bus.Raw("h1", "toy"), fmt.Appendf(nil, `{"timestamp":%d,"x":100}`, start-30), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	v := saved.View(aggregators.Periods[0], "h1", "toy")
	p.Restore("h1", "toy", v.Layout, map[string][]*aggregators.Bucket{"5m": v.List(nil)}, nil, 0)
	p.Loaded("h1")
	bustest.Eventually(t, 10*time.Second, func() error {
		v := p.View(aggregators.Periods[0], "h1", "toy")
		if v == nil {
			return fmt.Errorf("no view of h1")
		}
		var xs []string
		n := 0
		for _, b := range v.List(nil) {
			xs = append(xs, string(aggregators.AppendSample(nil, v.Layout, b, aggregators.Mean)))
			n += int(b.Count)
		}
		if got := strings.Join(xs, " "); !strings.HasPrefix(got, `{"timestamp":`+fmt.Sprint((start-30)/3*3)+`,"x":100}`) || n != 6 {
			return fmt.Errorf("h1's 5m ring %s (%d samples), want its saved bucket then its 5 samples", got, n)
		}
		if l := p.Latest("h1", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":5}`) {
			return fmt.Errorf("h1's latest %v, want its 5th sample (they kept their order)", l)
		}
		return nil
	})
	// h3 is still loading: 1 KB samples past the 8 KB bound are dropped.
	pad := strings.Repeat(" ", 1000)
	for i := 1; i <= 20; i++ {
		send("h3", i, pad)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 10*time.Second, func() error {
		if got := p.Stats().Dropped["state_loading"]; got < 10 || got > 13 {
			return fmt.Errorf("state_loading drops %d, want about 12 of 20 1-KB samples past 8 KB", got)
		}
		return nil
	})
	p.LoadingDone()
	bustest.Eventually(t, 10*time.Second, func() error {
		if l := p.Latest("h3", "toy"); l == nil || !strings.Contains(string(l.Raw), `"x":`) {
			return fmt.Errorf("h3's waiting samples were not taken once the load was over: %v", l)
		}
		return nil
	})
}
