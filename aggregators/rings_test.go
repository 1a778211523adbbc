package aggregators_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/ringwatch/ringwatch/aggregators"
)

// capture records every bucket the rings close, encoded as the downsampler
// publishes it, with the subject it goes to.
type capture struct {
	msgs []string
	subj []string
}

func (c *capture) all() ([]string, []string) { return c.subj, c.msgs }

func flat(t testing.TB, f *aggregators.Flattener, js string) *aggregators.Values {
	t.Helper()
	v, err := f.Flatten([]byte(js))
	if err != nil {
		t.Fatalf("flatten %s: %v", js, err)
	}
	v.Host, v.Kind = "h1", "toy"
	return v
}

// rings is one period's rings whose closed buckets go to pub (nil: nowhere).
// add puts a sample in and fails the test on an unexpected drop.
type rings struct{ *aggregators.Rings }

func newDS(p aggregators.Period, pub *capture) *rings {
	r := aggregators.NewRings(p)
	if pub != nil {
		r.Closed = func(host, kind string, l *aggregators.Layout, b *aggregators.Bucket) {
			pub.subj = append(pub.subj, "ringwatch.agg."+host+"."+kind+"."+p.Name)
			pub.msgs = append(pub.msgs, string(aggregators.AppendAggMessage(nil, host, kind, p, l, b)))
		}
	}
	return &rings{Rings: r}
}

func (r *rings) Add(v *aggregators.Values, now time.Time) {
	if err := r.Rings.Add(v, now); err != nil {
		panic(fmt.Sprintf("sample at %d dropped: %v", v.Time, err))
	}
}

func period(t testing.TB, name string) aggregators.Period {
	p, err := aggregators.ParsePeriod(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBucketKeepsMeanMinMax(t *testing.T) {
	for _, name := range []string{"5m", "1d"} {
		t.Run(name, func(t *testing.T) {
			p := period(t, name)
			pub := &capture{}
			d := newDS(p, pub)
			f := aggregators.NewFlattener(nil, nil)
			// A bucket start, then three samples inside it: 10, 20, 90.
			start := int64(1_795_000_000) / p.Seconds() * p.Seconds()
			now := time.Unix(start+p.Seconds()+5, 0)
			for i, cpu := range []int{10, 20, 90} {
				d.Add(flat(t, f, fmt.Sprintf(`{"timestamp":%d,"cpu_average":%d}`, start+int64(i), cpu)), now)
			}
			v := d.View("h1", "toy")
			if v.Len() != 1 {
				t.Fatalf("buckets = %d, want 1", v.Len())
			}
			e := v.Entries()[0]
			got := [3]float64{}
			for i, s := range []aggregators.Stat{aggregators.Mean, aggregators.Min, aggregators.Max} {
				got[i], _ = e.Value(s, "cpu_average")
			}
			if got != [3]float64{40, 10, 90} || e.Time() != start || e.Count != 3 {
				t.Fatalf("bucket at %d count %d = mean/min/max %v, want start %d count 3 [40 10 90]", e.Time(), e.Count, got, start)
			}
			// The clock closes it, and the closed bucket goes on the bus.
			d.Sweep(now)
			subj, msgs := pub.all()
			want := fmt.Sprintf(`{"host":"h1","kind":"toy","period":"%s","start":%d,"interval":%d,"count":3,`+
				`"mean":{"timestamp":%d,"cpu_average":40},"min":{"timestamp":%d,"cpu_average":10},"max":{"timestamp":%d,"cpu_average":90}}`,
				name, start, p.Seconds(), start, start, start)
			if len(msgs) != 1 || msgs[0] != want || subj[0] != "ringwatch.agg.h1.toy."+name {
				t.Fatalf("published %v %v\nwant %s", subj, msgs, want)
			}
		})
	}
}

func TestBucketsAlignToWallClockAndCloseOnNextBucket(t *testing.T) {
	p := period(t, "5m")
	pub := &capture{}
	d := newDS(p, pub)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(2000, 0)
	for ts := int64(1000); ts < 1007; ts++ { // buckets 999, 1002, 1005
		d.Add(flat(t, f, fmt.Sprintf(`{"timestamp":%d,"x":%d}`, ts, ts)), now)
	}
	var starts []int64
	for _, e := range d.View("h1", "toy").Entries() {
		starts = append(starts, e.Time())
	}
	if fmt.Sprint(starts) != "[999 1002 1005]" {
		t.Fatalf("bucket starts %v, want [999 1002 1005]", starts)
	}
	_, msgs := pub.all()
	if len(msgs) != 2 || !strings.Contains(msgs[0], `"start":999,`) || !strings.Contains(msgs[1], `"start":1002,`) {
		t.Fatalf("closed buckets published: %v", msgs)
	}
	// The newest (open) bucket is served before it closes: 1005 and 1006.
	e := d.View("h1", "toy").Entries()[2]
	if m, _ := e.Value(aggregators.Mean, "x"); m != 1005.5 {
		t.Fatalf("open bucket mean %v, want 1005.5", m)
	}
}

func TestSampleGoesToBucketOfItsOwnTimestamp(t *testing.T) {
	p := period(t, "5m")
	pub := &capture{}
	d := newDS(p, pub)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(5000, 0)
	d.Add(flat(t, f, `{"timestamp":1000,"x":1}`), now)
	d.Add(flat(t, f, `{"timestamp":1003,"x":2}`), now) // closes 999
	d.Add(flat(t, f, `{"timestamp":1001,"x":3}`), now) // late: 999 again
	d.Add(flat(t, f, `{"timestamp":990,"x":4}`), now)  // late: a bucket that did not exist
	es := d.View("h1", "toy").Entries()
	var got []string
	for _, e := range es {
		m, _ := e.Value(aggregators.Mean, "x")
		got = append(got, fmt.Sprintf("%d:%v", e.Time(), m))
	}
	if strings.Join(got, " ") != "990:4 999:2 1002:2" {
		t.Fatalf("buckets %v, want [990:4 999:2 1002:2]", got)
	}
	_, msgs := pub.all()
	if len(msgs) != 3 || !strings.Contains(msgs[1], `"start":999,"interval":3,"count":2`) {
		t.Fatalf("the corrected bucket should be published again: %v", msgs)
	}
}

func TestTooOldAndFutureSamplesAreDroppedAndCounted(t *testing.T) {
	p := period(t, "5m")
	d := aggregators.NewRings(p)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(10_000, 0)
	for _, c := range []struct {
		sample string
		want   error
	}{
		{`{"timestamp":9999,"x":1}`, nil},
		{fmt.Sprintf(`{"timestamp":%d,"x":1}`, 9999-3*100), aggregators.ErrTooOld}, // one ring too old
		{`{"timestamp":10061,"x":1}`, aggregators.ErrFuture},                       // 61 s ahead
		{`{"timestamp":10060,"x":1}`, nil},                                         // 60 s ahead: fine
	} {
		if err := d.Add(flat(t, f, c.sample), now); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.sample, err, c.want)
		}
	}
	if n := d.View("h1", "toy").Len(); n != 2 {
		t.Fatalf("%d buckets, want 2", n)
	}
}

func TestRingHoldsAtMost100NewestBuckets(t *testing.T) {
	p := period(t, "5m")
	d := newDS(p, nil)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(100_000, 0)
	for i := int64(0); i < 250; i++ {
		d.Add(flat(t, f, fmt.Sprintf(`{"timestamp":%d,"x":%d}`, 30_000+3*i, i)), now)
	}
	es := d.View("h1", "toy").Entries()
	if len(es) != 100 || es[0].Time() != 30_000+3*150 || es[99].Time() != 30_000+3*249 {
		t.Fatalf("%d buckets from %d to %d; want 100 from %d to %d", len(es), es[0].Time(), es[len(es)-1].Time(), 30_000+3*150, 30_000+3*249)
	}
}

func TestCountersKeepTheirLastValue(t *testing.T) {
	p := period(t, "1h")
	d := newDS(p, nil)
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns("net.*.sent"))
	now := time.Unix(100_000, 0)
	for i, sent := range []int{100, 250, 400} {
		d.Add(flat(t, f, fmt.Sprintf(`{"timestamp":%d,"net":{"eth0":{"sent":%d,"speed":%d}}}`, 36_000+i, sent, sent)), now)
	}
	e := d.View("h1", "toy").Entries()[0]
	sent, _ := e.Value(aggregators.Mean, "net", "eth0", "sent")
	speed, _ := e.Value(aggregators.Mean, "net", "eth0", "speed")
	if sent != 400 || speed != 250 {
		t.Fatalf("counter %v (want last, 400), gauge %v (want mean, 250)", sent, speed)
	}
}

func TestViewsAreImmutable(t *testing.T) {
	p := period(t, "5m")
	d := newDS(p, nil)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(100_000, 0)
	d.Add(flat(t, f, `{"timestamp":3000,"x":1}`), now)
	before := d.View("h1", "toy")
	d.Add(flat(t, f, `{"timestamp":3001,"x":3,"y":7}`), now)
	if m, _ := before.Entries()[0].Value(aggregators.Mean, "x"); m != 1 || before.Entries()[0].Count != 1 {
		t.Fatalf("an earlier view changed: mean %v count %d", m, before.Entries()[0].Count)
	}
	if before.Layout.Lookup("y") != nil {
		t.Fatal("an earlier view's layout grew")
	}
	after := d.View("h1", "toy").Entries()[0]
	if m, _ := after.Value(aggregators.Mean, "x"); m != 2 {
		t.Fatalf("new view mean %v, want 2", m)
	}
}

func TestFlattenerRejectsBadSamplesAndBoundsGrowth(t *testing.T) {
	f := aggregators.NewFlattener(nil, nil)
	for _, bad := range []string{``, `{`, `[]`, `"x"`, `{"x":1}`, `{"timestamp":"soon"}`, `{"timestamp":-5}`} {
		if _, err := f.Flatten([]byte(bad)); err == nil {
			t.Errorf("Flatten(%q) succeeded", bad)
		}
	}
	var b strings.Builder
	b.WriteString(`{"timestamp":1`)
	for i := range aggregators.MaxNodes + 10 {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	v, err := f.Flatten([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Layout.Nodes) != aggregators.MaxNodes || f.Dropped == 0 {
		t.Fatalf("layout has %d nodes, dropped %d; want %d and >0", len(v.Layout.Nodes), f.Dropped, aggregators.MaxNodes)
	}
}

func TestSampleShapeRoundTrips(t *testing.T) {
	p := period(t, "5m")
	d := newDS(p, nil)
	f := aggregators.NewFlattener(nil, nil)
	in := `{"timestamp":3000,"cpu":null,"mem":{"used":5,"pct":1.5},"disks":{"/dev/sda1":{"path":"/","fs":"ext4","ok":true}},` +
		`"sensors":[{"name":"a","t":40},{"name":"b\"q","t":50}],"cores":[1,2],"empty":{},"none":[]}`
	d.Add(flat(t, f, in), time.Unix(5000, 0))
	v := d.View("h1", "toy")
	got := string(aggregators.AppendSample(nil, v.Layout, v.List(nil)[0], aggregators.Mean))
	want := `{"timestamp":3000,"mem":{"used":5,"pct":1.5},"disks":{"/dev/sda1":{"path":"/","fs":"ext4","ok":true}},` +
		`"sensors":[{"name":"a","t":40},{"name":"b\"q","t":50}],"cores":[1,2],"empty":{},"none":[]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	xs := []float64{0, math.Copysign(0, -1), 40, -40, 1024.5, 1e21, 1e20, 123456789012, 1e-7, -2.25, 1e15, 1e15 - 1, -1e15 + 1,
		-1e15, 1 << 53, math.MaxInt64, math.MinInt64, 0.1, 1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64, 4.5e15}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		xs = append(xs, rng.NormFloat64()*1e6, float64(rng.Int64N(1<<50)), float64(float32(rng.Float64()*100)))
	}
	for _, x := range xs {
		want, _ := json.Marshal(x)
		if got := string(aggregators.AppendFloat(nil, x)); got != string(want) {
			t.Errorf("AppendFloat(%v) = %s, want %s", x, got, want)
		}
	}
}

// TestSweepClosesEachBucketWhenItComesDue: sweeping every second closes a
// silent host's bucket Grace after its end, not a whole interval later,
// whatever second the sweeps began at.
func TestSweepClosesEachBucketWhenItComesDue(t *testing.T) {
	p := period(t, "5m")
	for first := int64(0); first < 3; first++ {
		pub := &capture{}
		d := newDS(p, pub)
		f := aggregators.NewFlattener(nil, nil)
		d.Add(flat(t, f, `{"timestamp":3000,"x":1}`), time.Unix(3000, 0)) // bucket 3000-3003, due at 3005
		var closedAt int64
		for now := int64(3000) + first; now <= 3010 && closedAt == 0; now++ {
			d.Sweep(time.Unix(now, 0))
			if _, msgs := pub.all(); len(msgs) == 1 {
				closedAt = now
			}
		}
		if closedAt != 3005 {
			t.Errorf("sweeps from %d: the bucket closed at %d, want 3005", 3000+first, closedAt)
		}
	}
}

// TestPackedBucketsReadBackExactly: closed buckets are packed; what a view
// reads back is every accumulator as it was (whole numbers, float32 and
// float64 values, negative zero, a node absent from some samples), and a
// late sample corrects one bucket without touching the literals its
// neighbours share with it.
func TestPackedBucketsReadBackExactly(t *testing.T) {
	p := period(t, "5m")
	d := newDS(p, nil)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(100_000, 0)
	samples := []string{
		`{"timestamp":3000,"i":4294967296,"f32":45.5,"f64":12.345678901234567,"nz":-0,"dev":"sda","x":1}`,
		`{"timestamp":3001,"i":4294971392,"f32":46.25,"f64":0.1,"nz":-0,"dev":"sda"}`,
		`{"timestamp":3003,"i":1e15,"f32":-1.5,"f64":1e-300,"nz":0,"dev":"sda","x":2}`,
		`{"timestamp":3006,"i":0,"f32":0,"f64":0,"nz":0,"dev":"sdb"}`,
		`{"timestamp":3009,"i":0,"f32":0,"f64":0,"nz":0,"dev":"sdb","x":3}`,
	}
	want := map[int64]string{}
	for _, s := range samples {
		d.Add(flat(t, f, s), now)
		v := d.View("h1", "toy")
		for _, e := range v.Entries() {
			want[e.Time()] = dumpEntry(e)
		}
	}
	v := d.View("h1", "toy")
	if len(v.Closed) != 3 || v.Closed[0].PackedBytes() == 0 {
		t.Fatalf("%d closed buckets, the first packed in %d bytes", len(v.Closed), v.Closed[0].PackedBytes())
	}
	for _, e := range v.Entries() {
		if got := dumpEntry(e); got != want[e.Time()] {
			t.Errorf("bucket %d read back as\n%s\nwant\n%s", e.Time(), got, want[e.Time()])
		}
	}
	// Bucket 3006 was made in the memory of the one before it, which had
	// x: it must hold nothing of it.
	if a, ok := v.Entries()[2].AccOf(v.Layout.Lookup("x")); ok || strings.Contains(want[3006], " x=") {
		t.Fatalf("bucket 3006 has x %+v, which only the buckets around it had", a)
	}
	// Unpacked one after another into the same memory (as the snapshot
	// writer does), each closed bucket reads back as itself.
	var u aggregators.Unpacker
	for range 2 {
		for _, b := range v.Closed {
			u.Reset()
			list := (&aggregators.View{Layout: v.Layout, Closed: []*aggregators.Bucket{b}}).List(&u)
			if got := dumpEntry(aggregators.Entry{Layout: v.Layout, Bucket: list[0]}); got != want[b.Start] {
				t.Fatalf("bucket %d unpacked into reused memory as\n%s\nwant\n%s", b.Start, got, want[b.Start])
			}
		}
	}
	// A late sample for the first bucket; the second shares its literals.
	d.Add(flat(t, f, `{"timestamp":3002,"i":1,"f32":1,"f64":1,"nz":1,"dev":"sdc"}`), now)
	es := d.View("h1", "toy").Entries()
	if got := string(es[0].Lit(es[0].Layout.Lookup("dev"))); got != `"sdc"` {
		t.Fatalf("corrected bucket's dev %s, want the late sample's", got)
	}
	if got := string(es[1].Lit(es[1].Layout.Lookup("dev"))); got != `"sda"` {
		t.Fatalf("the next bucket's dev became %s", got)
	}
}

func dumpEntry(e aggregators.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "count %d:", e.Count)
	for _, n := range e.Layout.Nodes {
		if a, ok := e.AccOf(n); ok {
			fmt.Fprintf(&b, " %s=%d/%v/%v/%v", strings.Join(n.Path, "."), a.N,
				math.Float64bits(a.Val), math.Float64bits(a.Min), math.Float64bits(a.Max))
		}
	}
	return b.String()
}

// TestHandleOutlivesForget: a handle kept across Forget does not write into
// the forgotten series; the host starts again from nothing, visible to
// readers.
func TestHandleOutlivesForget(t *testing.T) {
	d := newDS(period(t, "5m"), nil)
	f := aggregators.NewFlattener(nil, nil)
	now := time.Unix(10_000, 0)
	var h aggregators.Handle
	for _, js := range []string{`{"timestamp":9000,"x":1}`, `{"timestamp":9003,"x":2}`} {
		if err := d.AddTo(&h, flat(t, f, js), now); err != nil {
			t.Fatal(err)
		}
	}
	d.Forget("h1", "toy")
	if d.Has("h1", "toy") {
		t.Fatal("a forgotten series is still there")
	}
	if err := d.AddTo(&h, flat(t, f, `{"timestamp":9006,"x":3}`), now); err != nil {
		t.Fatal(err)
	}
	v := d.View("h1", "toy")
	if v == nil || v.Len() != 1 || !d.Has("h1", "toy") {
		t.Fatalf("after Forget, the host's series should hold the one new sample: %+v", v)
	}
	if m, _ := v.Entries()[0].Value(aggregators.Mean, "x"); m != 3 {
		t.Fatalf("x = %v, want 3", m)
	}
}

// TestALateSampleKeepsTheLatestValues: a sample that arrives after a newer
// one of its bucket adds to the count, mean, minimum and maximum, but a
// counter's value and a literal stay those of the newest sample; and a 15m
// bucket is its 5m buckets merged in order (Derive), value for value,
// whatever order the samples came in.
func TestALateSampleKeepsTheLatestValues(t *testing.T) {
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns("sent"))
	fine, coarse := newDS(period(t, "5m"), nil), newDS(period(t, "15m"), nil)
	now := time.Unix(3100, 0)
	sample := func(ts int64, cpu, sent int, name string) {
		v := flat(t, f, fmt.Sprintf(`{"timestamp":%d,"cpu":%d,"sent":%d,"dev":%q}`, ts, cpu, sent, name))
		fine.Add(v, now)
		coarse.Add(v, now)
	}
	// 2997..3005 in a 15m bucket; 2998 and 3001 arrive last.
	for _, s := range []struct {
		ts        int64
		cpu, sent int
		name      string
	}{{2997, 10, 100, "a"}, {2999, 30, 120, "c"}, {3000, 40, 130, "d"}, {3002, 60, 150, "f"},
		{3003, 70, 160, "g"}, {3005, 90, 180, "i"}, {2998, 20, 110, "b"}, {3001, 55, 140, "e"}} {
		sample(s.ts, s.cpu, s.sent, s.name)
	}
	sample(3006, 1, 190, "j") // the next 15m bucket: closes the others
	c := coarse.View("h1", "toy")
	if len(c.Closed) != 1 {
		t.Fatalf("15m closed buckets: %d", len(c.Closed))
	}
	got := string(aggregators.AppendSample(nil, c.Layout, c.List(nil)[0], aggregators.Mean))
	if want := `{"timestamp":2997,"cpu":46.875,"sent":180,"dev":"i"}`; got != want {
		t.Fatalf("15m bucket: %s, want %s", got, want)
	}
	v := fine.View("h1", "toy")
	got = string(aggregators.AppendSample(nil, v.Layout, v.List(nil)[0], aggregators.Mean))
	if want := `{"timestamp":2997,"cpu":20,"sent":120,"dev":"c"}`; got != want {
		t.Fatalf("5m bucket of the late 2998: %s, want %s", got, want)
	}
	d := aggregators.Derive(v.List(nil), 2997, 9, v.Layout)
	for _, s := range []aggregators.Stat{aggregators.Mean, aggregators.Min, aggregators.Max} {
		got := string(aggregators.AppendSample(nil, v.Layout, d, s))
		want := string(aggregators.AppendSample(nil, c.Layout, c.List(nil)[0], s))
		if got != want || d.Count != c.Closed[0].Count {
			t.Fatalf("derived (n=%d): %s, the 15m bucket (n=%d): %s", d.Count, got, c.Closed[0].Count, want)
		}
	}
	if !v.Covers(2997, 9, c.Closed[0].Count) || v.Covers(2997, 9, c.Closed[0].Count+1) {
		t.Fatal("Covers: the 5m ring holds exactly the 15m bucket's samples")
	}
}

// TestChainedPeriodsMatchSampleBySample: rings that Chain links (each
// period takes the closed buckets of the one before, not every sample) show
// in every period what rings given every sample show: the same buckets,
// counts, minima, maxima, counters' values and literals, and means
// within the last bits of the sums. Samples come late now and then (some
// too old for the 5m ring, some into a bucket already closed), the clock
// sweeps silent stretches, views are taken while buckets are open, and the
// chain is restored from its views halfway, its 5m bucket open.
// A bucket that took no late sample is, bit for bit, the buckets of the
// period before merged (Derive), as a state file's reader rebuilds it.
func TestChainedPeriodsMatchSampleBySample(t *testing.T) {
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns("sent"))
	var direct, chained [aggregators.NumPeriods]*aggregators.Rings
	for i, p := range aggregators.Periods {
		direct[i], chained[i] = aggregators.NewRings(p), aggregators.NewRings(p)
	}
	aggregators.Chain(chained[:])
	var hs [aggregators.NumPeriods]aggregators.Handle
	rng := rand.New(rand.NewPCG(7, 8))
	const t0 = 1_800_000_000
	ts, sent, late, restored := int64(t0), 0, map[int64]bool{}, false
	leanNamed := 0
	for n := range 4000 {
		ts++
		if rng.IntN(50) == 0 {
			ts += int64(rng.IntN(100)) // silent for a while
		}
		at := ts
		switch rng.IntN(40) + n/3000*40 { // none late in the last thousand
		case 0:
			at -= 1 + int64(rng.IntN(20)) // late, maybe into a closed 5m bucket
		case 1:
			at -= 400 + int64(rng.IntN(600)) // too old for the 5m ring
		}
		if at != ts {
			late[at] = true
		}
		sent += rng.IntN(1000)
		now := time.Unix(ts, 0)
		v := flat(t, f, fmt.Sprintf(`{"timestamp":%d,"cpu":%v,"load":%v,"sent":%d,"dev":"d%d"}`,
			at, rng.Float64()*100, rng.NormFloat64(), sent, rng.IntN(3)))
		for _, r := range direct {
			_ = r.Add(v, now)
		}
		var errs [aggregators.NumPeriods]error
		aggregators.AddChained(chained[:], hs[:], v, now, errs[:])
		if rng.IntN(7) == 0 {
			now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
			for i := range direct {
				direct[i].Sweep(now)
				chained[i].Sweep(now)
			}
		}
		if n%97 == 0 || n == 3999 {
			checkLeanViews(t, chained[:], &leanNamed)
			for i, p := range aggregators.Periods {
				compareViews(t, p.Name, direct[i].View("h1", "toy"), chained[i].View("h1", "toy"))
			}
		}
		if n == 2000 && chained[0].View("h1", "toy").Open != nil {
			// A restart: the chain is restored from its views, its 5m
			// bucket still open, and the samples go on.
			var again [aggregators.NumPeriods]*aggregators.Rings
			for i, p := range aggregators.Periods {
				v := chained[i].View("h1", "toy")
				again[i] = aggregators.NewRings(p)
				again[i].Restore("h1", "toy", v.Layout, v.List(nil))
			}
			aggregators.Chain(again[:])
			chained, hs = again, [aggregators.NumPeriods]aggregators.Handle{}
			restored = true
		}
	}
	if !restored {
		t.Fatal("no restart with an open 5m bucket")
	}
	if leanNamed == 0 {
		t.Fatal("lean views: no open bucket named")
	}
	for i, p := range aggregators.Periods[1:] {
		fine, c, exact := chained[i].View("h1", "toy"), chained[i+1].View("h1", "toy"), 0
		for _, b := range c.List(nil) {
			w := p.Seconds()
			if b.Start < fine.Closed[0].Start || anyIn(late, b.Start, w) {
				continue
			}
			d := aggregators.Derive(fine.List(nil), b.Start, w, fine.Layout)
			for _, s := range []aggregators.Stat{aggregators.Mean, aggregators.Min, aggregators.Max} {
				got := string(aggregators.AppendSample(nil, c.Layout, b, s))
				if want := string(aggregators.AppendSample(nil, fine.Layout, d, s)); got != want {
					t.Fatalf("%s bucket %d: %s, its %s buckets merged: %s", p.Name, b.Start, got, aggregators.Periods[i].Name, want)
				}
			}
			exact++
		}
		if exact == 0 && p.Name != "1mo" { // (no 1mo bucket is free of late samples)
			t.Fatalf("%s: no bucket compared with its shorter buckets", p.Name)
		}
	}
}

// checkLeanViews fails unless the lean views of rs (LeanView, each period
// with the one before it) hold what the full views do: the same closed
// buckets, and either the same open bucket, or one that the period before
// covers, named by its start and count. It counts the open buckets named.
func checkLeanViews(t *testing.T, rs []*aggregators.Rings, named *int) {
	t.Helper()
	lean := []*aggregators.View{rs[0].View("h1", "toy")}
	cached := []*aggregators.View{nil}
	for _, r := range rs[1:] {
		v, _ := r.Cached("h1", "toy") // a view still current is all a lean view can be
		cached = append(cached, v)
		lean = append(lean, r.LeanView("h1", "toy", lean[len(lean)-1]))
	}
	for i, r := range rs[1:] {
		l, full, fine, p := lean[i+1], r.View("h1", "toy"), lean[i], aggregators.Periods[i+1]
		if !slices.Equal(l.Closed, full.Closed) {
			t.Fatalf("%s: the lean view's closed buckets differ from the view's", p.Name)
		}
		if (l.Open == nil) != (full.Open == nil) || l.Open != nil && (l.Open.Start != full.Open.Start || l.Open.Count != full.Open.Count) {
			t.Fatalf("%s: lean open bucket %+v, the view's %+v", p.Name, l.Open, full.Open)
		}
		covered := full.Open != nil && fine.Covers(full.Open.Start, p.Seconds(), full.Open.Count)
		switch {
		case l.OpenDerived && !covered:
			t.Fatalf("%s: open bucket %d named, but the %s view does not cover it", p.Name, full.Open.Start, aggregators.Periods[i].Name)
		case l.OpenDerived:
			*named++
		case covered && l != cached[i+1]:
			t.Fatalf("%s: open bucket %d copied whole, though the %s view covers it", p.Name, full.Open.Start, aggregators.Periods[i].Name)
		}
	}
}

// TestLeanViewKeepsAnOpenBucketTheShorterPeriodLacks: a longer period's
// open bucket holding samples that the period before it does not (restored
// from a file that had them, such as GoDoxy's, whose periods were kept
// apart) comes whole in a lean view, accumulators and all.
func TestLeanViewKeepsAnOpenBucketTheShorterPeriodLacks(t *testing.T) {
	f := aggregators.NewFlattener(nil, nil)
	const ts = 1_800_000_005
	restored := func(p aggregators.Period, at int64) *aggregators.View {
		r := aggregators.NewRings(p)
		if err := r.Add(flat(t, f, fmt.Sprintf(`{"timestamp":%d,"cpu":12.5}`, at)), time.Unix(ts, 0)); err != nil {
			t.Fatal(err)
		}
		return r.View("h1", "toy")
	}
	var rs [aggregators.NumPeriods]*aggregators.Rings
	for i, p := range aggregators.Periods {
		rs[i] = aggregators.NewRings(p)
	}
	aggregators.Chain(rs[:])
	fine, open := restored(aggregators.Periods[0], ts-100), restored(aggregators.Periods[1], ts)
	rs[0].Restore("h1", "toy", fine.Layout, fine.List(nil))
	rs[1].Restore("h1", "toy", open.Layout, open.List(nil))
	lean := rs[1].LeanView("h1", "toy", rs[0].View("h1", "toy"))
	if lean.OpenDerived || lean.Open == nil {
		t.Fatalf("lean view: open %+v, derived %v; want the open bucket whole", lean.Open, lean.OpenDerived)
	}
	got := string(aggregators.AppendSample(nil, lean.Layout, lean.Open, aggregators.Mean))
	if want := string(aggregators.AppendSample(nil, open.Layout, open.Open, aggregators.Mean)); got != want {
		t.Fatalf("lean view's open bucket: %s, want %s", got, want)
	}
}

func anyIn(at map[int64]bool, start, width int64) bool {
	for ts := range at {
		if ts >= start && ts < start+width {
			return true
		}
	}
	return false
}

// compareViews fails unless a and b hold the same buckets, equal but for
// the sums' last bits.
func compareViews(t *testing.T, period string, a, b *aggregators.View) {
	t.Helper()
	la, lb := a.List(nil), b.List(nil)
	if len(la) != len(lb) || (a.Open == nil) != (b.Open == nil) {
		t.Fatalf("%s: %d buckets (open %v), chained %d (open %v)", period, len(la), a.Open != nil, len(lb), b.Open != nil)
	}
	for k := range la {
		x, y := la[k], lb[k]
		if x.Start != y.Start || x.Count != y.Count {
			t.Fatalf("%s bucket %d: start %d n=%d, chained start %d n=%d", period, k, x.Start, x.Count, y.Start, y.Count)
		}
		for _, n := range a.Layout.Nodes {
			if n.Type != aggregators.Number {
				if string(x.Lit(n)) != string(y.Lit(b.Layout.Lookup(n.Path...))) {
					t.Fatalf("%s bucket %d %s: %s, chained %s", period, x.Start, n.Path, x.Lit(n), y.Lit(b.Layout.Lookup(n.Path...)))
				}
				continue
			}
			p, _ := x.AccOf(n)
			q, _ := y.AccOf(b.Layout.Lookup(n.Path...))
			sum := p.Val == q.Val || !n.Counter && math.Abs(p.Val-q.Val) <= 1e-12*math.Abs(p.Val)
			if p.N != q.N || p.Min != q.Min || p.Max != q.Max || !sum {
				t.Fatalf("%s bucket %d %s: %+v, chained %+v", period, x.Start, n.Path, p, q)
			}
		}
	}
}

// TestLeanViewsLetEvictedBucketsGo: a lean view drops its series' cached
// view once that is out of date, so that the buckets the ring has let go
// of are not kept alive by a view nobody has asked for since (the
// snapshotter takes the longer periods lean, every 30 s).
func TestLeanViewsLetEvictedBucketsGo(t *testing.T) {
	f := aggregators.NewFlattener(nil, nil)
	var rs [aggregators.NumPeriods]*aggregators.Rings
	for i, p := range aggregators.Periods {
		rs[i] = aggregators.NewRings(p)
	}
	aggregators.Chain(rs[:])
	var hs [aggregators.NumPeriods]aggregators.Handle
	var errs [aggregators.NumPeriods]error
	const t0 = 1_800_000_000
	add := func(from, to int64) {
		for ts := from; ts < to; ts++ {
			v := flat(t, f, fmt.Sprintf(`{"timestamp":%d,"cpu":%d}`, ts, ts%97))
			aggregators.AddChained(rs[:], hs[:], v, time.Unix(ts, 0), errs[:])
		}
	}
	add(t0, t0+30)
	first := weak.Make(rs[1].View("h1", "toy").Closed[0]) // the 15m view, cached
	add(t0+30, t0+1000)                                   // past the 15m ring's 900 s
	lean := rs[1].LeanView("h1", "toy", rs[0].View("h1", "toy"))
	if !lean.OpenDerived {
		t.Fatal("the 15m view is not lean")
	}
	runtime.GC()
	if first.Value() != nil {
		t.Fatal("the first 15m bucket, gone from the ring, is still kept alive")
	}
	runtime.KeepAlive(lean)
	runtime.KeepAlive(&rs) // the rings, and whatever they hold, stay reachable
}
