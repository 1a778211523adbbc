package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"
	"time"
	"weak"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

// BenchmarkHeapPerHost fills every period of 1,000 realistic hosts (8 cores,
// 4 disks, 3 interfaces, 6 sensors: loadgen's --shape 8,4,3,6) with the
// load generator's back-dated samples (three per bucket, so that minimum,
// mean and maximum differ as in a live hub), and reports the live heap per host
// (target: at most 256 KB) and, for the baseline of the same run, the bytes
// of one sample as published; and one host's state file as the snapshotter
// writes it: its size, and the time to encode and compress it. For the
// garbage collector: the live objects per host, and the processor time a
// full collection of the 1,000 hosts' heap takes (gc-cpu-ms; a fleet hub
// collects every 20 to 35 s, gctrace says).
//
//	go test -run '^$' -bench HeapPerHost -benchtime 1x ./cmd/ringwatch/
func BenchmarkHeapPerHost(b *testing.B) {
	const hosts = 1000
	fixed, _ := parseShape("8,4,3,6")
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		p := pipeline.New([]aggregators.Kind{systeminfo.Kind()}, nil, nil, bustest.Quiet())
		now := time.Now()
		times := backfillTimes(now.Unix() - 1)
		var buf []byte
		var sampleBytes int
		for i := range hosts {
			h := newSimHost(i, "heap", fixed, 1)
			for _, ts := range times {
				buf = h.appendSample(buf[:0], ts)
				if err := p.IngestNow(h.subject, buf, bus.Header{}, now); err != nil {
					b.Fatal(err)
				}
				sampleBytes = len(buf)
			}
		}
		packed, buckets := 0, 0
		views := map[string]*aggregators.View{}
		for _, per := range aggregators.Periods {
			v := p.View(per, "heap-00001", "system_info")
			if v == nil || v.Len() != 100 {
				b.Fatalf("%s holds %v buckets, want 100", per.Name, v)
			}
			views[per.Name] = v
			for _, bk := range v.Closed {
				packed += bk.PackedBytes()
				buckets++
			}
		}
		// One host's whole state file, encoded and compressed as the
		// snapshotter writes it with none before it, timed over a few
		// rounds (BenchmarkSnapshotFile has the file written again).
		var file []byte
		const rounds = 5
		began := time.Now()
		for range rounds {
			var enc persistence.FileEncoder
			var err error
			if file, _, err = enc.Encode("heap-00001", "system_info", views["5m"].Layout, views, nil, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(began).Microseconds())/rounds/1000, "snapshot-ms/host")
		runtime.GC()
		b.ReportMetric(gcCPU(5)*1000, "gc-cpu-ms")
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/hosts/1024, "heap-KB/host")
		b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/hosts, "objects/host")
		// What the process holds from the system for its heap, released
		// pages left out: about its resident memory, which the garbage
		// collector's target (GOGC) sets above the live heap.
		b.ReportMetric(float64((after.HeapSys-after.HeapReleased)-(before.HeapSys-before.HeapReleased))/hosts/1024, "held-KB/host")
		b.ReportMetric(float64(sampleBytes), "sample-bytes")
		b.ReportMetric(float64(packed)/float64(buckets), "packed-B/bucket")
		b.ReportMetric(float64(len(file))/1024, "file-KB/host")
		bound, values := valuesBound(views)
		b.ReportMetric(bound/1024, "bound-KB/host")
		b.ReportMetric(float64(values), "bound-values/host")
		runtime.KeepAlive(p)
	}
}

// valuesBound is, in bytes, the least the encodings the fleet issue names
// (delta and XOR of closed buckets, as time-series databases do) could
// take for the values alone of one host's closed buckets (views), granting
// them more than any encoder has, and how many values that is. Each value
// costs only the bits that differ from the best of its predictors: the
// bucket before's minimum, maximum and value (the sum, or a counter's last
// value); for a maximum, the bucket's minimum; for a value, the bucket's
// maximum and N times its minimum or maximum. Nothing is charged for
// control bits, length prefixes, which predictor was used, counts,
// presence or headers, and a bucket the shorter period covers (which the
// state files name instead of writing) costs nothing. Fractions cost the
// meaningful bits of their XOR with the predictor (Gorilla's, leading and
// trailing zero bits left out); whole numbers and decimals of up to three
// places the bits of their difference at the pair's scale, trailing zero
// bits left out (byte counts in 512-byte sectors and 4 KiB pages), plus a
// sign bit; a value equal to a predictor one bit. The load generator's
// fractions (CPU and memory percentages, a disk's share used) come from
// random walks of float64 steps, like gopsutil's tick ratios, and the sums
// of float32 speeds need float64: their low bits are noise that no
// predictor removes.
func valuesBound(views map[string]*aggregators.View) (bytes float64, values int) {
	var total float64
	for i, per := range aggregators.Periods {
		v := views[per.Name]
		var u aggregators.Unpacker
		before := map[int]aggregators.Acc{} // by node: its accumulator in the bucket before
		for _, pb := range v.Closed {
			if i > 0 && views[aggregators.Periods[i-1].Name].Covers(pb.Start, per.Seconds(), pb.Count) {
				continue // the shorter period holds its samples: free
			}
			w := u.Unpack(pb, v.Layout)
			for _, n := range v.Layout.Nodes {
				a, ok := w.AccOf(n)
				if !ok || n.Type != aggregators.Number {
					continue
				}
				// Coded in the order minimum, maximum, value (the sum, or
				// a counter's last value), each against what is known by
				// then.
				stats := []float64{a.Min, a.Max, a.Val}
				if a.Min == a.Max { // one value: the series did not move
					stats = stats[:1]
				}
				prev, had := before[n.Index]
				before[n.Index] = a
				for k, x := range stats {
					var refs []float64
					if had {
						refs = append(refs, prev.Min, prev.Max, prev.Val)
					}
					switch k {
					case 1:
						refs = append(refs, a.Min)
					case 2:
						refs = append(refs, a.Max, float64(a.N)*a.Min, float64(a.N)*a.Max)
					}
					total += float64(valueBits(x, refs))
					values++
				}
			}
		}
	}
	return total / 8, values
}

// valueBits is the fewest bits x costs against any of refs (valuesBound).
func valueBits(x float64, refs []float64) int {
	best := 64 + 1
	for _, r := range refs {
		if r == x {
			return 1
		}
		_, sx, xok := aggregators.Decimal(x)
		_, sr, rok := aggregators.Decimal(r)
		if xok && rok {
			d := uint64(math.Round(math.Abs(x-r) * math.Pow10(max(sx, sr))))
			d >>= bits.TrailingZeros64(d | 1<<63) // zeros every value of the series has (4 KiB pages) are free
			best = min(best, bits.Len64(d)+1)
			continue
		}
		xor := math.Float64bits(x) ^ math.Float64bits(r)
		best = min(best, 64-bits.LeadingZeros64(xor)-bits.TrailingZeros64(xor))
	}
	if len(refs) == 0 { // the first of its series: whole
		if m, _, ok := aggregators.Decimal(x); ok {
			return bits.Len64(uint64(max(m, -m))) + 1
		}
		return 64
	}
	return best
}

// gcCPU is the processor time one full collection of the heap takes, the
// mean of rounds collections: the collector's marking, which grows with the
// number of live objects and pointers more than with their bytes.
func gcCPU(rounds int) float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	before := s[0].Value.Float64()
	for range rounds {
		runtime.GC()
	}
	metrics.Read(s)
	return (s[0].Value.Float64() - before) / float64(rounds)
}

// BenchmarkJournalEntry encodes and compresses the journal entry of one
// realistic host with every ring full, 30 s of 1 Hz samples after its last
// write: what every host costs once per journal cadence (30 s at the
// default --snapshot-interval), where the whole file (BenchmarkSnapshotFile)
// is written about every 33 entries. "derived" is what the snapshotter
// writes (persistence.GzipEntry); "derived-fastest-level", the same entry
// compressed as whole files are (persistence.Gzip), for the comparison.
//
//	go test -run '^$' -bench 'SnapshotFile|JournalEntry' ./cmd/ringwatch/
func BenchmarkJournalEntry(b *testing.B) {
	p, now := fullHost(b)
	var prev [aggregators.NumPeriods][]*aggregators.Bucket
	for i, per := range aggregators.Periods {
		prev[i] = p.View(per, "snap-00001", "system_info").Closed
	}
	h := newSimHost(0, "snap", mustShape("8,4,3,6"), 1)
	var buf []byte
	for ts := now.Unix(); ts < now.Unix()+30; ts++ {
		buf = h.appendSample(buf[:0], ts)
		if err := p.IngestNow(h.subject, buf, bus.Header{}, time.Unix(ts, 0)); err != nil {
			b.Fatal(err)
		}
	}
	views := map[string]*aggregators.View{}
	for _, per := range aggregators.Periods { // shortest first, as the snapshotter takes them
		views[per.Name] = p.View(per, "snap-00001", "system_info")
	}
	layout := views["5m"].Layout
	last := p.Latest("snap-00001", "system_info")
	// What the snapshotter writes: the longer periods' buckets that the
	// period before covers named, not written, and the layout's nodes left
	// out while it does not grow; for the comparison, every changed bucket
	// written, and the nodes written.
	derivedLists, derived := persistence.EntryContent(views, &prev, nil)
	wholeLists := map[string][]*aggregators.Bucket{}
	for i, per := range aggregators.Periods {
		wholeLists[per.Name] = views[per.Name].Since(prev[i], nil, nil)
	}
	for _, c := range []struct {
		name      string
		lists     map[string][]*aggregators.Bucket
		derived   map[string][]int64
		sameNodes bool
		gzip      func(*bytes.Buffer, []byte) error
	}{
		{"derived", derivedLists, derived, true, persistence.GzipEntry},
		{"derived-fastest-level", derivedLists, derived, true, persistence.Gzip},
		{"every-bucket", wholeLists, nil, true, persistence.GzipEntry},
		{"every-bucket-with-nodes", wholeLists, nil, false, persistence.GzipEntry},
	} {
		b.Run(c.name, func(b *testing.B) {
			var entry []byte
			var gz bytes.Buffer
			for b.Loop() {
				entry = persistence.EncodeEntry(entry[:0], "snap-00001", "system_info", layout, c.lists, c.derived, last, now, c.sameNodes)
				gz.Reset()
				if err := c.gzip(&gz, entry); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			for _, bs := range c.lists {
				n += len(bs)
			}
			b.ReportMetric(float64(n), "buckets")
			b.ReportMetric(float64(len(entry))/1024, "json-KB")
			b.ReportMetric(float64(gz.Len())/1024, "entry-KB")
		})
	}
}

// fullHost is a pipeline holding one realistic host, snap-00001, with every
// ring full (three samples per bucket), and the time of its last sample.
func fullHost(b testing.TB) (*pipeline.Pipeline, time.Time) {
	p := pipeline.New([]aggregators.Kind{systeminfo.Kind()}, nil, nil, bustest.Quiet())
	now := time.Now()
	h := newSimHost(0, "snap", mustShape("8,4,3,6"), 1) // snap-00001
	var buf []byte
	for _, ts := range backfillTimes(now.Unix() - 1) {
		buf = h.appendSample(buf[:0], ts)
		if err := p.IngestNow(h.subject, buf, bus.Header{}, now); err != nil {
			b.Fatal(err)
		}
	}
	return p, now
}

func mustShape(s string) *shape {
	sh, err := parseShape(s)
	if err != nil {
		panic(err)
	}
	return sh
}

// BenchmarkSnapshotFile encodes and compresses the state file of one
// realistic host with every ring full (three samples per bucket), as the
// snapshotter writes it: what every host costs once per two
// --snapshot-interval. "first" is a file with none before it (the first
// after a start); "10min-later" the next one, after ten more minutes of
// samples, which copies from the file before the parts of the longer
// periods that did not change.
//
//	go test -run '^$' -bench SnapshotFile ./cmd/ringwatch/
func BenchmarkSnapshotFile(b *testing.B) {
	p, now := fullHost(b)
	views := fullViews(p)
	b.Run("first", func(b *testing.B) {
		var file []byte
		for b.Loop() {
			var enc persistence.FileEncoder
			var err error
			if file, _, err = enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(file))/1024, "file-KB")
	})
	b.Run("10min-later", func(b *testing.B) {
		var enc persistence.FileEncoder
		if _, _, err := enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, now); err != nil {
			b.Fatal(err)
		}
		later := tenMinutesLater(b, p, now)
		next := fullViews(p)
		var file []byte
		var copied int
		for b.Loop() {
			prev := enc // each round copies from the same file before
			var err error
			if file, copied, err = prev.Encode("snap-00001", "system_info", next["5m"].Layout, next, nil, later); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(file))/1024, "file-KB")
		b.ReportMetric(float64(copied), "parts-copied")
	})
}

// tenMinutesLater gives fullHost's host ten more minutes of samples, one a
// second, and returns the time after them.
func tenMinutesLater(tb testing.TB, p *pipeline.Pipeline, now time.Time) time.Time {
	h := newSimHost(0, "snap", mustShape("8,4,3,6"), 2)
	var buf []byte
	for ts := now.Unix(); ts < now.Unix()+600; ts++ {
		buf = h.appendSample(buf[:0], ts)
		if err := p.IngestNow(h.subject, buf, bus.Header{}, time.Unix(ts, 0)); err != nil {
			tb.Fatal(err)
		}
	}
	return now.Add(600 * time.Second)
}

// fullViews are the five periods of fullHost's host.
func fullViews(p *pipeline.Pipeline) map[string]*aggregators.View {
	views := map[string]*aggregators.View{}
	for _, per := range aggregators.Periods {
		views[per.Name] = p.View(per, "snap-00001", "system_info")
	}
	return views
}

// TestSnapshotFileIsExact: a realistic host's state, every ring full,
// written as the snapshotter writes it (whole numbers as deltas, the longer
// periods in parts) and read back, gives every bucket's count, sum, minimum
// and maximum bit for bit, those of a longer period that the file names
// rather than writes (rebuilt from the period before) too: the rings build
// a longer period's bucket by merging the shorter period's buckets, in the
// order the reader merges them (aggregators.Chain). So does the next file,
// ten minutes of samples later, which copies the parts that did not change
// from the file before.
func TestSnapshotFileIsExact(t *testing.T) {
	p, now := fullHost(t)
	views := fullViews(p)
	var enc persistence.FileEncoder
	file, copied, err := enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, now)
	if err != nil || copied != 0 {
		t.Fatalf("first file: %d parts copied, %v", copied, err)
	}
	text := gunzipAll(t, file)
	if !bytes.Contains(text, []byte(`"dsum":[`)) || !bytes.Contains(text, []byte(`"sum":[`)) || !bytes.Contains(text, []byte(`"parts":[{"start":[`)) {
		t.Fatal("the file should hold whole-number (delta) and fractional columns, and parts")
	}
	compared, derived := compareFile(t, file, views)
	// The last third of the 15m ring, the last quarter of the 1h ring, the
	// newest few of the 1d and 1mo rings.
	if derived < 60 {
		t.Fatalf("%d buckets rebuilt from a shorter period, want at least 60", derived)
	}
	t.Logf("%d values compared; %d buckets rebuilt", compared, derived)

	later := tenMinutesLater(t, p, now)
	views = fullViews(p)
	file, copied, err = enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, later)
	if err != nil {
		t.Fatal(err)
	}
	// How many depends on where now falls against the parts' spans (11 or
	// 12 here, most often); at least the 1h ring's parts that hold only
	// buckets older than 15 minutes and younger than 50 both times: 2,100 s
	// of 36-s buckets in spans of 360 s, four whatever the alignment.
	if copied < 4 {
		t.Fatalf("%d parts copied from the file before, want at least 4", copied)
	}
	compared, derived = compareFile(t, file, views)
	t.Logf("ten minutes later, %d parts copied: %d values compared; %d buckets rebuilt", copied, compared, derived)
}

// gunzipAll is a gzip file's text, every member of it.
func gunzipAll(t *testing.T, gz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// compareFile reads a state file back and compares every value of every
// bucket with views, bit for bit; it returns how many values it compared
// and how many buckets the file had rebuilt from a shorter period.
func compareFile(t *testing.T, file []byte, views map[string]*aggregators.View) (compared, derived int) {
	t.Helper()
	st, err := persistence.Decode(file, "snap-00001", "system_info", systeminfo.Counters)
	if err != nil {
		t.Fatal(err)
	}
	_, derivedStarts := persistence.EntryContent(views, &[aggregators.NumPeriods][]*aggregators.Bucket{}, nil)
	for _, per := range aggregators.Periods {
		want, got := views[per.Name].List(nil), st.Buckets[per.Name]
		if len(got) != len(want) || len(want) != aggregators.Slots {
			t.Fatalf("%s: %d buckets read, %d written", per.Name, len(got), len(want))
		}
		for i, b := range want {
			rebuilt := slices.Contains(derivedStarts[per.Name], b.Start)
			if rebuilt {
				derived++
			}
			for _, n := range views["5m"].Layout.Nodes {
				wa, wok := b.AccOf(n)
				ga, gok := got[i].AccOf(st.Layout.Nodes[n.Index])
				sumOK := math.Float64bits(wa.Val) == math.Float64bits(ga.Val)
				if wok != gok || got[i].Start != b.Start || got[i].Count != b.Count || (wok && (wa.N != ga.N || !sumOK ||
					math.Float64bits(wa.Min) != math.Float64bits(ga.Min) || math.Float64bits(wa.Max) != math.Float64bits(ga.Max))) {
					t.Fatalf("%s bucket %d node %v (rebuilt: %v): read %+v (%v), written %+v (%v)", per.Name, i, n.Path, rebuilt, ga, gok, wa, wok)
				}
				compared++
			}
		}
	}
	return compared, derived
}

// BenchmarkLoadFile reads back fullHost's state file: what a restart pays
// per host with every ring full (gunzip and decode).
//
//	go test -run '^$' -bench LoadFile ./cmd/ringwatch/
func BenchmarkLoadFile(b *testing.B) {
	p, now := fullHost(b)
	views := fullViews(p)
	var enc persistence.FileEncoder // the file as the snapshotter writes it
	file, _, err := enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, now)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := persistence.Decode(file, "snap-00001", "system_info", systeminfo.Counters); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadHost reads back fullHost's state as a restart does
// (persistence.LoadAll: read, gunzip, decode, apply the journal): "file",
// right after its whole file; "file+journal", with the longest journal the
// snapshotter lets grow before it writes the file again (1.5 times the
// file's bytes; entries of 30 s of samples, as at the default interval);
// "file+20", with 20 entries, the longest before that rule.
//
//	go test -run '^$' -bench LoadHost ./cmd/ringwatch/
func BenchmarkLoadHost(b *testing.B) {
	p, now := fullHost(b)
	live, dir := b.TempDir(), b.TempDir()
	s := &persistence.Snapshotter{Dir: live, Interval: 5 * time.Minute, Source: p, Log: bustest.Quiet()}
	h := newSimHost(0, "snap", mustShape("8,4,3,6"), 2)
	var buf []byte
	ts, entries, kept := now.Unix(), 0, 0
	for {
		if err := s.SnapshotAll(); err != nil {
			b.Fatal(err)
		}
		js, _ := filepath.Glob(filepath.Join(live, "snap-00001", "*.journal-*"))
		if entries > 0 && len(js) == 0 {
			break // the whole file again: dir holds the state just before
		}
		if err := os.CopyFS(filepath.Join(dir, strconv.Itoa(entries)), os.DirFS(live)); err != nil {
			b.Fatal(err)
		}
		kept = entries
		if entries++; entries > 100 {
			b.Fatal("the whole file was never written again")
		}
		for end := ts + 30; ts < end; ts++ {
			buf = h.appendSample(buf[:0], ts)
			if err := p.IngestNow(h.subject, buf, bus.Header{}, time.Unix(ts, 0)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name    string
		entries int
	}{{"file", 0}, {"file+20", 20}, {"file+journal", kept}} {
		b.Run(c.name, func(b *testing.B) {
			from := filepath.Join(dir, strconv.Itoa(c.entries))
			for b.Loop() {
				st := persistence.LoadAll(from, "hub", []aggregators.Kind{systeminfo.Kind()}, bustest.Quiet())
				if len(st) != 1 || st[0].Journal != c.entries {
					b.Fatalf("loaded %d states, %+v", len(st), st)
				}
			}
			b.ReportMetric(float64(c.entries), "entries")
		})
	}
}

// TestRewritesHoldNoOldFiles: what a whole file leaves behind for the
// next one (where its parts are) holds no file: once two more files are
// written, the first one's bytes are collected. (Once, the index pointed
// into the writer that had held the file before, which held the index
// before it: a chain of every file written.) A weak pointer tells, whatever
// else the process allocates meanwhile.
func TestRewritesHoldNoOldFiles(t *testing.T) {
	p, now := fullHost(t)
	views := fullViews(p)
	var enc persistence.FileEncoder
	var first weak.Pointer[byte]
	for i := range 3 {
		file, copied, err := enc.Encode("snap-00001", "system_info", views["5m"].Layout, views, nil, now.Add(time.Duration(i)*time.Second))
		if err != nil || (i > 0 && copied == 0) {
			t.Fatalf("file %d: %d parts copied, %v", i, copied, err)
		}
		if i == 0 {
			first = weak.Make(&file[0])
		}
	}
	runtime.GC()
	runtime.GC()
	if first.Value() != nil {
		t.Fatal("the first file is still held after two more were written")
	}
	runtime.KeepAlive(&enc) // what the next file would copy from, as a hub keeps it
	runtime.KeepAlive(p)    // the host's rings, as in a hub
}

// TestValueBitsCostsWhatDiffers pins the costs BenchmarkHeapPerHost's
// bound-KB/host adds up: what its README row cites.
func TestValueBitsCostsWhatDiffers(t *testing.T) {
	for _, c := range []struct {
		x    float64
		refs []float64
		want int
	}{
		{42.125, []float64{42.125}, 1},                          // equal to its predictor
		{1003, []float64{1000}, 3},                              // whole: 2 bits of difference and a sign
		{20.5, []float64{20.25}, 6},                             // decimals at the pair's scale: 25 hundredths
		{1 + 0x1p-20, []float64{1 + 0x1p-20 + 0x1p-30}, 1},      // fractions: one meaningful bit of XOR
		{1 + 0x1p-20, []float64{9e9, 1 + 0x1p-20 + 0x1p-30}, 1}, // the best of the predictors
		{math.Nextafter(0.3, 1), []float64{0.3}, 3},             // the last bits: ...34 against ...33
		{math.Pi, []float64{math.E}, 52},                        // alike in sign and exponent only
		{12288, []float64{4096}, 2},                             // whole, in 4 KiB pages: their zeros are free
		{5, nil, 4},                                             // the first of its series, whole
		{math.Pi, nil, 64},                                      // the first, a fraction
	} {
		if got := valueBits(c.x, c.refs); got != c.want {
			t.Errorf("valueBits(%v, %v) = %d, want %d", c.x, c.refs, got, c.want)
		}
	}
}
