package persistence_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childWriter())
	}
	goleak.VerifyTestMain(m)
}

var quiet = bustest.Quiet()

var toy = aggregators.Kind{Name: "toy", Counters: []string{"sent"}}

// fed builds a pipeline fed directly (no bus) with samples at ts of the
// given cpu values.
func fed(t testing.TB, host string, samples map[int64]float64) *pipeline.Pipeline {
	t.Helper()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ts := make([]int64, 0, len(samples))
	for k := range samples {
		ts = append(ts, k)
	}
	for i := range ts { // ascending
		for j := i + 1; j < len(ts); j++ {
			if ts[j] < ts[i] {
				ts[i], ts[j] = ts[j], ts[i]
			}
		}
	}
	now := time.Unix(ts[len(ts)-1]+10, 0)
	for _, x := range ts {
		msg := fmt.Sprintf(`{"timestamp":%d,"cpu":%v,"sent":%d,"dev":{"sda":{"name":"sda","r":%v}}}`, x, samples[x], x*10, samples[x]*2)
		if err := p.IngestNow("ringwatch.raw."+host+".toy", []byte(msg), nil, now); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// dump renders every period of a pipeline's host as text, for comparisons.
func dump(p *pipeline.Pipeline, host string) string {
	var b strings.Builder
	for _, per := range aggregators.Periods {
		v := p.View(per, host, "toy")
		if v == nil {
			continue
		}
		fmt.Fprintf(&b, "%s:", per.Name)
		for _, bk := range v.List(nil) {
			b.WriteString(" " + string(aggregators.AppendSample(nil, v.Layout, bk, aggregators.Mean)))
			fmt.Fprintf(&b, "/n=%d", bk.Count)
			b.WriteString("/" + string(aggregators.AppendSample(nil, v.Layout, bk, aggregators.Min)))
			b.WriteString("/" + string(aggregators.AppendSample(nil, v.Layout, bk, aggregators.Max)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestSnapshotRoundTripKeepsBucketsAndLastSample(t *testing.T) {
	dir := t.TempDir()
	p := fed(t, "h1", map[int64]float64{3000: 10, 3001: 20, 3002: 90, 3003: 5})
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}
	if err := s.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	if len(states) != 1 || states[0].Host != "h1" {
		t.Fatalf("loaded %v", states)
	}
	st := states[0]
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	if got, want := dump(q, "h1"), dump(p, "h1"); got != want {
		t.Fatalf("after reload:\n%s\nbefore:\n%s", got, want)
	}
	if !strings.Contains(dump(q, "h1"), `5m: {"timestamp":3000,"cpu":40,"sent":30020,"dev":{"sda":{"name":"sda","r":80}}}/n=3/{"timestamp":3000,"cpu":10,`) {
		t.Fatalf("5m bucket wrong:\n%s", dump(q, "h1"))
	}
	if l := q.Latest("h1", "toy"); l == nil || l.Time != 3003 || !bytes.Contains(l.Raw, []byte(`"cpu":5`)) {
		t.Fatalf("last sample %+v", l)
	}
	// Nothing changed: nothing is written again.
	writes := s.Stats().Writes
	_ = s.SnapshotAll()
	if s.Stats().Writes != writes {
		t.Fatal("an unchanged host was written again")
	}
}

// TestWholeNumberColumnsAreExact: whole numbers are written as deltas,
// but not -0 (its sign), not numbers past 2^53 (not every one is exact in
// float64), and not a column with a fraction; all read back as written,
// absent values included.
func TestWholeNumberColumnsAreExact(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	t0 := time.Now().Unix() - 600
	for i, extra := range []string{`"neg":-0,"big":1152921504606846976,"mix":3`, `"neg":-0,"big":1152921504606846977,"mix":3.5`, `"gap":7`,
		`"neg":-5,"big":9007199254740993,"mix":-2,"gap":-9007199254740992`} {
		msg := fmt.Sprintf(`{"timestamp":%d,"cpu":%d,%s}`, t0+int64(i)*30, i, extra)
		if err := p.IngestNow("ringwatch.raw.h1.toy", []byte(msg), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	if len(states) != 1 {
		t.Fatalf("loaded %v", states)
	}
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	q.Restore(states[0].Host, states[0].Kind, states[0].Layout, states[0].Buckets, states[0].Last, states[0].LastTime)
	if got, want := dump(q, "h1"), dump(p, "h1"); got != want {
		t.Fatalf("after reload:\n%s\nbefore:\n%s", got, want)
	}
	if d := dump(q, "h1"); !strings.Contains(d, `"neg":-0,`) || !strings.Contains(d, `"gap":-9007199254740992`) {
		t.Fatalf("-0 or a whole number at 2^53 lost:\n%s", d)
	}
}

// TestRestartedHubKnowsWhatAnAgentSendsAgain: an agent sends again, to a
// hub that restarted, the samples the hub never confirmed before it
// stopped; those the hub had saved are dropped as duplicates (by the
// number saved with the last sample), the rest are taken.
func TestRestartedHubKnowsWhatAnAgentSendsAgain(t *testing.T) {
	dir := t.TempDir()
	seqd := func(n uint64) bus.Header {
		return bus.Header{bus.SchemaHeader: {bus.SchemaVersion}, bus.SeqHeader: {bus.FormatSeq(7, n)}}
	}
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	t0 := time.Now().Unix() - 10 // recent: a host silent for longer than the retention is forgotten
	for n := uint64(1); n <= 3; n++ {
		msg := fmt.Sprintf(`{"timestamp":%d,"cpu":%d}`, t0+int64(n), n)
		if err := p.IngestNow("ringwatch.raw.h1.toy", []byte(msg), seqd(n), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	if len(states) != 1 || states[0].LastSeq != bus.FormatSeq(7, 3) {
		t.Fatalf("loaded %+v, want the last sample's number saved", states)
	}
	st := states[0]

	// The restarted hub, its ingest on a bus.
	srv := bustest.Server(t)
	sub, agent := bustest.Conn(t, srv, "ingest"), bustest.Conn(t, srv, "agent")
	q := pipeline.New([]aggregators.Kind{toy}, sub, nil, quiet)
	q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	q.RestoreSeq(st.Host, st.LastSeq)
	sup := actors.NewSupervisor(quiet, actors.DefaultBackoff)
	defer sup.Stop(context.Background())
	for _, sp := range q.Specs() {
		if err := sup.Start(t.Context(), sp); err != nil {
			t.Fatal(err)
		}
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if sub.Subscriptions() != 1 {
			return fmt.Errorf("ingest not subscribed yet")
		}
		return nil
	})
	for n := uint64(2); n <= 4; n++ { // 2 and 3 it had; 4 it missed
		m := &bus.Msg{Subject: "ringwatch.raw.h1.toy", Header: seqd(n), Data: fmt.Appendf(nil, `{"timestamp":%d,"cpu":%d}`, t0+int64(n), n)}
		if err := agent.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if st := q.Stats(); st.Received != 3 || st.Dropped["duplicate"] != 2 || st.Periods[0].Processed != 1 {
			return fmt.Errorf("received %d, dropped %v, processed %d; want 3, 2 duplicates, 1", st.Received, st.Dropped, st.Periods[0].Processed)
		}
		return nil
	})
	if l := q.Latest("h1", "toy"); l == nil || l.Time != t0+4 || l.Seq != bus.FormatSeq(7, 4) {
		t.Fatalf("latest %+v, want sample 4", l)
	}
}

func TestGoDoxyFileLoadsAndIsRepaired(t *testing.T) {
	// GoDoxy's shape: no buckets, no ringwatch object; a wrong interval, an
	// unknown period, two samples in one 5m bucket, and 120 entries in 1h.
	var h1 strings.Builder
	for i := range 120 {
		if i > 0 {
			h1.WriteByte(',')
		}
		fmt.Fprintf(&h1, `{"timestamp":%d,"cpu":%d}`, 36000+36*i, i)
	}
	file := `{"entries":{"5m":{"entries":[{"timestamp":3000,"cpu":10},{"timestamp":3001,"cpu":30},{"timestamp":3003,"cpu":7}],"interval":"3s"},` +
		`"2h":{"entries":[{"timestamp":1,"cpu":1}],"interval":0},` +
		`"1h":{"entries":[` + h1.String() + `],"interval":1},` +
		`"1d":{"entries":[],"interval":864000000000},"1mo":null}}`
	st, err := persistence.Decode([]byte(file), "h1", "toy", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	p.Restore("h1", "toy", st.Layout, st.Buckets, st.Last, st.LastTime)
	got := dump(p, "h1")
	if !strings.HasPrefix(got, `5m: {"timestamp":3000,"cpu":20}/n=2/{"timestamp":3000,"cpu":10}/{"timestamp":3000,"cpu":30} {"timestamp":3003,"cpu":7}/n=1`) {
		t.Fatalf("5m:\n%s", got)
	}
	for _, per := range aggregators.Periods {
		v := p.View(per, "h1", "toy")
		if per.Name == "1h" {
			es := v.Entries()
			first, _ := es[0].Value(aggregators.Mean, "cpu")
			if len(es) != 100 || first != 20 {
				t.Fatalf("1h kept %d entries starting with cpu %v; want the newest 100 (from 20)", len(es), first)
			}
		}
		if per.Name == "1d" && v != nil {
			t.Fatal("an empty period produced a series")
		}
	}
	if strings.Contains(got, "2h") {
		t.Fatal("unknown period loaded")
	}
}

func TestBadFilesAreSetAsideAndTheRestLoads(t *testing.T) {
	dir := t.TempDir()
	good := fed(t, "good", map[int64]float64{3000: 1})
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: good, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	valid, _ := os.ReadFile(persistence.Path(dir, "good", "toy"))
	bad := map[string][]byte{
		"empty":     {},
		"truncated": valid[:len(valid)/2],
		"garbage":   []byte("\x00\x01 not json at all"),
		"wrongtype": []byte(`{"entries":[1,2,3]}`),
	}
	// Format 2 files, compressed, whose structure is wrong.
	v2 := func(period string) []byte {
		var gz bytes.Buffer
		_ = persistence.Gzip(&gz, []byte(`{"ringwatch":{"version":2,"host":"x","kind":"toy","saved":3010,"last":null},`+
			`"nodes":[{"path":[],"type":"object"},{"path":["x"],"type":"number"},{"path":["dev"],"type":"literal"}],`+
			`"periods":{"5m":`+period+`}}`))
		return gz.Bytes()
	}
	bad["nopresent"] = v2(`{"interval":3,"start":[3000],"count":[1],"present":[{"node":0}]}`)
	bad["novalues"] = v2(`{"interval":3,"start":[3000],"count":[1],"literals":[{"node":2}]}`)
	bad["shortsum"] = v2(`{"interval":3,"start":[3000,3003],"count":[1,1],"numbers":[{"node":1,"sum":[1]}]}`)
	bad["badnode"] = v2(`{"interval":3,"start":[3000],"count":[1],"numbers":[{"node":7,"sum":[1]}]}`)
	for host, data := range bad {
		_ = os.MkdirAll(filepath.Join(dir, host), 0o755)
		_ = os.WriteFile(persistence.Path(dir, host, "toy"), data, 0o644)
	}
	// 100 MB (sparse, so the test stays cheap on disk).
	_ = os.MkdirAll(filepath.Join(dir, "huge"), 0o755)
	f, _ := os.Create(persistence.Path(dir, "huge", "toy"))
	_ = f.Truncate(100 << 20)
	_ = f.Close()
	// A temporary file left by a crash mid-write.
	_ = os.WriteFile(filepath.Join(dir, "good", ".toy.json.tmp-123"), []byte("{"), 0o644)

	var logBuf bustest.Writer
	log := logBuf.Logger()
	states := persistence.LoadAll(dir, "good", []aggregators.Kind{toy}, log)
	if len(states) != 1 || states[0].Host != "good" {
		t.Fatalf("loaded %d states", len(states))
	}
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	setAside := 0
	for _, l := range lines {
		if strings.Contains(l, "set aside as") {
			setAside++
		}
	}
	if setAside != 9 {
		t.Fatalf("%d set-aside lines, want 9 (one per bad file):\n%s", setAside, logBuf.String())
	}
	for _, host := range []string{"empty", "truncated", "garbage", "wrongtype", "huge", "nopresent", "novalues", "shortsum", "badnode"} {
		if _, err := os.Stat(persistence.Path(dir, host, "toy")); !os.IsNotExist(err) {
			t.Errorf("%s: bad file still in place", host)
		}
		aside, _ := filepath.Glob(persistence.Path(dir, host, "toy") + ".corrupt-*")
		if len(aside) != 1 {
			t.Errorf("%s: %d files set aside, want 1", host, len(aside))
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "good", ".*tmp*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestSnapshotterWritesOnStop(t *testing.T) {
	dir := t.TempDir()
	p := fed(t, "h1", map[int64]float64{3000: 1})
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}
	sup := actors.NewSupervisor(quiet, actors.DefaultBackoff)
	_ = sup.Start(context.Background(), actors.Spec{Name: "persistence", Actor: s})
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := persistence.LoadFile(persistence.Path(dir, "h1", "toy"), "h1", "toy", nil)
	if err != nil || st.LastTime != 3000 {
		t.Fatalf("final snapshot: %+v %v", st, err)
	}
}

// TestForgottenHostsFilesGo: a host the pipeline forgot loses its folder at
// the next pass; the other hosts keep theirs.
func TestForgottenHostsFilesGo(t *testing.T) {
	dir := t.TempDir()
	p := fed(t, "gone", map[int64]float64{3000: 1})
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}
	if err := s.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(persistence.Path(dir, "gone", "toy")); err != nil {
		t.Fatal(err)
	}
	s.Source = fed(t, "kept", map[int64]float64{3000: 1}) // the pipeline without "gone"
	s.Forget("gone")
	if err := s.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
		t.Fatalf("the forgotten host's folder is still there: %v", err)
	}
	if _, err := os.Stat(persistence.Path(dir, "kept", "toy")); err != nil {
		t.Fatalf("the other host's file: %v", err)
	}
}

// TestSymlinkedHostFolderIsRefused: a host folder that is a symbolic link
// (here to a folder outside the data folder) is neither written through nor
// read through; it is logged once, however often it is met again, and
// counted; it is not a failed snapshot; the other hosts are kept.
func TestSymlinkedHostFolderIsRefused(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	var logs bustest.Writer
	p := fed(t, "evil", map[int64]float64{3000: 1})
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: logs.Logger()}
	if err := s.SnapshotAll(); err != nil {
		t.Fatalf("snapshot with a symlinked host folder: %v", err)
	}
	_ = s.SnapshotAll() // refused again, logged once
	if es, _ := os.ReadDir(outside); len(es) != 0 {
		t.Fatalf("written outside the data folder: %v", es)
	}
	if st := s.Stats(); st.Refused != 2 || st.Failures != 0 || st.Writes != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "state path refused"); n != 1 {
		t.Fatalf("%d refusal lines, want 1:\n%s", n, logs.String())
	}
	// A state file planted behind the link is not read at the next start.
	if err := os.WriteFile(filepath.Join(outside, "toy.json"), []byte(`{"entries":{"5m":{"entries":[{"timestamp":3000,"cpu":9}]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := fed(t, "good", map[int64]float64{3000: 1})
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: good, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	var loadLogs bustest.Writer
	states := persistence.LoadAll(dir, "good", []aggregators.Kind{toy}, loadLogs.Logger())
	if len(states) != 1 || states[0].Host != "good" || strings.Contains(loadLogs.String(), "state path refused") {
		t.Fatalf("loaded %d states; the path, already reported, is reported again:\n%s", len(states), loadLogs.String())
	}
}

// TestFormat1FilesLoadAndMigrate: a file of the earlier format (GoDoxy's
// entries plus ringwatch's buckets with min, max and count) loads with its
// extremes, and the next snapshot replaces it with a format 2 file.
func TestFormat1FilesLoadAndMigrate(t *testing.T) {
	dir := t.TempDir()
	v1 := `{"entries":{"5m":{"entries":[{"timestamp":3000,"cpu":20}],"interval":3000000000,` +
		`"buckets":[{"start":3000,"count":2,"min":{"timestamp":3000,"cpu":10},"max":{"timestamp":3000,"cpu":30}}]}},` +
		`"ringwatch":{"version":1,"host":"h1","kind":"toy","saved":3010,"last":{"timestamp":3001,"cpu":30}}}`
	_ = os.MkdirAll(filepath.Join(dir, "h1"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "h1", "toy.json"), []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	if len(states) != 1 {
		t.Fatalf("%d states", len(states))
	}
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	st := states[0]
	p.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	want := `5m: {"timestamp":3000,"cpu":20}/n=2/{"timestamp":3000,"cpu":10}/{"timestamp":3000,"cpu":30}` + "\n"
	if got := dump(p, "h1"); got != want {
		t.Fatalf("format 1 file loaded as\n%s\nwant\n%s", got, want)
	}
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "h1", "toy.json")); !os.IsNotExist(err) {
		t.Fatalf("the format 1 file is still there: %v", err)
	}
	again := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	q.Restore(again[0].Host, again[0].Kind, again[0].Layout, again[0].Buckets, again[0].Last, again[0].LastTime)
	if got := dump(q, "h1"); got != want {
		t.Fatalf("after migrating:\n%s\nwant\n%s", got, want)
	}
}

// TestEmptyAndBrokenGoDoxyFiles: an empty GoDoxy state file is empty, as
// GoDoxy takes it (not corrupt, not set aside, no error); a broken one is
// set aside with an error and not reported as imported; a good one is
// reported with what it held.
func TestEmptyAndBrokenGoDoxyFiles(t *testing.T) {
	for _, c := range []struct {
		name, file, want, not string
		aside                 bool
	}{
		{"empty", "", "GoDoxy state file is empty; nothing to import", "level=ERROR", false},
		{"blank", " \n", "GoDoxy state file is empty; nothing to import", "level=ERROR", false},
		{"broken", `{"entries":`, "level=ERROR", "imported GoDoxy state file", true},
		{"good", `{"entries":{"5m":{"entries":[{"timestamp":3000,"cpu":10}],"interval":3000000000}}}`, "imported GoDoxy state file", "level=ERROR", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "toy.json"), []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bustest.Writer
			states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, logs.Logger())
			if !strings.Contains(logs.String(), c.want) || strings.Contains(logs.String(), c.not) {
				t.Fatalf("logs:\n%s", logs.String())
			}
			asides, _ := filepath.Glob(filepath.Join(dir, "toy.json.corrupt-*"))
			if (len(asides) == 1) != c.aside {
				t.Fatalf("set aside: %v", asides)
			}
			if (c.name == "good") != (len(states) == 1) {
				t.Fatalf("%d states", len(states))
			}
			if c.name == "good" && !strings.Contains(logs.String(), "entries=1") {
				t.Fatalf("the import line does not say what it held:\n%s", logs.String())
			}
		})
	}
}
