package persistence_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

// feed adds one toy sample of host at ts (extra: more members).
func feed(t *testing.T, p *pipeline.Pipeline, host string, ts int64, cpu float64, extra string) {
	t.Helper()
	msg := fmt.Sprintf(`{"timestamp":%d,"cpu":%v,"sent":%d,"dev":{"sda":{"name":"sda","r":%v}}%s}`, ts, cpu, ts*10, cpu*2, extra)
	if err := p.IngestNow("ringwatch.raw."+host+".toy", []byte(msg), nil, time.Unix(ts+1, 0)); err != nil {
		t.Fatal(err)
	}
}

// reload loads dir into a fresh pipeline.
func reload(t *testing.T, dir, host string, log *bustest.Writer) (*pipeline.Pipeline, *persistence.State) {
	t.Helper()
	l := quiet
	if log != nil {
		l = log.Logger()
	}
	states := persistence.LoadAll(dir, host, []aggregators.Kind{toy}, l)
	if len(states) != 1 {
		t.Fatalf("loaded %d states", len(states))
	}
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	st := states[0]
	q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	return q, st
}

func journalFiles(t *testing.T, dir, host string) []string {
	t.Helper()
	js, _ := filepath.Glob(filepath.Join(dir, host, "toy.journal-*.json.gz"))
	return js
}

// bytesOf is the size of the files pattern matches, in all.
func bytesOf(t *testing.T, pattern string) int64 {
	t.Helper()
	var n int64
	ms, _ := filepath.Glob(pattern)
	for _, m := range ms {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// untilRewritten calls write until host's whole file is written again (its
// journal gone), which must take at most most entries and a file, and
// returns how many entries came before it.
func untilRewritten(t *testing.T, dir, host string, most int, write func()) int {
	t.Helper()
	for n := 0; n <= most; n++ {
		write()
		if len(journalFiles(t, dir, host)) == 0 {
			return n
		}
	}
	t.Fatalf("the whole file was not written again after %d journal entries: %v", most, journalFiles(t, dir, host))
	return 0
}

// TestJournalEntriesRestoreWhatChanged: after the whole file, what changes
// (buckets that close, a late sample correcting a closed bucket, a new key)
// is appended as journal entries; loading the file and its journal gives
// back every period as it was; writing the whole file again removes the
// journal.
func TestJournalEntriesRestoreWhatChanged(t *testing.T) {
	// Once as the final pass writes (every view whole), once as Run's
	// passes do (lean views: the longer periods' open buckets named
	// without being copied): the same entries.
	for name, write := range map[string]func(*persistence.Snapshotter) error{
		"final-pass": (*persistence.Snapshotter).SnapshotAll, "every-second": persistence.SnapshotDue} {
		t.Run(name, func(t *testing.T) { journalEntriesRestoreWhatChanged(t, write) })
	}
}

func journalEntriesRestoreWhatChanged(t *testing.T, write func(*persistence.Snapshotter) error) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	for ts := int64(3000); ts < 3010; ts++ {
		feed(t, p, "h1", ts, float64(ts%7), "")
	}
	// Interval 1 s: an entry every second, the whole file again after 2
	// entries at least (once the journal holds 1.5 times the file's bytes).
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Second, Source: p, Log: quiet}
	if err := write(s); err != nil {
		t.Fatal(err)
	}
	if js := journalFiles(t, dir, "h1"); len(js) != 0 {
		t.Fatalf("journals after the first write: %v", js)
	}
	feed(t, p, "h1", 3010, 50, `,"fan":{"rpm":1200}`) // a new key: the layout grows
	feed(t, p, "h1", 3011, 60, "")
	feed(t, p, "h1", 3001, 99, "") // late: corrects a closed 5m bucket
	if err := write(s); err != nil {
		t.Fatal(err)
	}
	js := journalFiles(t, dir, "h1")
	if len(js) != 1 || s.Stats().JournalEntries != 1 {
		t.Fatalf("journals %v, stats %+v", js, s.Stats())
	}
	q, st := reload(t, dir, "h1", nil)
	if got, want := dump(q, "h1"), dump(p, "h1"); got != want || st.Journal != 1 {
		t.Fatalf("file and journal (%d entries):\n%s\nbefore:\n%s", st.Journal, got, want)
	}
	if l := q.Latest("h1", "toy"); l == nil || l.Time != 3011 {
		t.Fatalf("last sample %+v", l)
	}
	// The longer periods' buckets are named, not written: the 5m ring
	// holds every one of their samples.
	want := map[string]string{"15m": "derived [2997 3006], written []", "1h": "derived [2988], written []",
		"1d": "derived [2592], written []", "1mo": "derived [0], written []"}
	if got := entryPeriods(t, js[0], 0); !maps.Equal(got, want) {
		t.Fatalf("the entry's longer periods: %v, want %v", got, want)
	}
	feed(t, p, "h1", 3014, 70, "")
	feed(t, p, "h1", 2700, 40, "")   // too old for the 5m ring, not for the 15m one
	if err := write(s); err != nil { // the second entry
		t.Fatal(err)
	}
	// The 15m bucket of the sample the 5m ring refused is written; the 1h
	// bucket holding it is rebuilt from the 15m ring.
	want = map[string]string{"15m": "derived [3006], written [2700]", "1h": "derived [2700 2988], written []",
		"1d": "derived [2592], written []", "1mo": "derived [0], written []"}
	if got := entryPeriods(t, js[0], 1); !maps.Equal(got, want) {
		t.Fatalf("the second entry's longer periods: %v, want %v", got, want)
	}
	if q, st := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") || st.Journal != 2 {
		t.Fatalf("file and journal (%d entries):\n%s\nbefore:\n%s", st.Journal, dump(q, "h1"), dump(p, "h1"))
	}
	feed(t, p, "h1", 3017, 80, "")
	if err := write(s); err != nil { // two entries, larger than the file: the whole file again
		t.Fatal(err)
	}
	if js := journalFiles(t, dir, "h1"); len(js) != 0 {
		t.Fatalf("journals left after the whole file was written again: %v", js)
	}
	if q, _ := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") {
		t.Fatalf("after the whole file:\n%s\nbefore:\n%s", dump(q, "h1"), dump(p, "h1"))
	}
}

// entryPeriods describes the longer periods of a journal's entry i: the
// bucket starts it names as derived and those it writes.
func entryPeriods(t *testing.T, journal string, i int) map[string]string {
	t.Helper()
	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var e struct {
		Periods map[string]struct {
			Derived []int64 `json:"derived"`
			Start   []int64 `json:"start"`
		} `json:"periods"`
	}
	for range i + 1 {
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	out := map[string]string{}
	for name, p := range e.Periods {
		if name != "5m" {
			out[name] = fmt.Sprintf("derived %v, written %v", p.Derived, p.Start)
		}
	}
	return out
}

// TestJournalTornEndAndStaleEntries: an entry torn by a crash ends the
// journal (the entries before it are used, one line says so); entries older
// than the file (a crash between writing the file and removing the journal)
// are not applied over it.
func TestJournalTornEndAndStaleEntries(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	for ts := int64(3000); ts < 3006; ts++ {
		feed(t, p, "h1", ts, float64(ts%5), "")
	}
	s := &persistence.Snapshotter{Dir: dir, Interval: 10 * time.Second, Source: p, Log: quiet}
	_ = s.SnapshotAll()
	feed(t, p, "h1", 3006, 40, "")
	_ = s.SnapshotAll()
	withOne := dump(p, "h1")
	js := journalFiles(t, dir, "h1")
	if len(js) != 1 {
		t.Fatalf("journals %v", js)
	}
	f, err := os.OpenFile(js[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0}) // a second entry, cut short
	_ = f.Close()
	var logs bustest.Writer
	q, st := reload(t, dir, "h1", &logs)
	if dump(q, "h1") != withOne || st.Journal != 1 || strings.Count(logs.String(), "journal ends with an unreadable entry") != 1 {
		t.Fatalf("with a torn end: %d entries\n%s\nwant\n%s\nlogs:\n%s", st.Journal, dump(q, "h1"), withOne, logs.String())
	}

	// The journal of an earlier state, left beside a newer file.
	old, _ := os.ReadFile(js[0])
	feed(t, p, "h1", 3009, 10, "")
	s2 := &persistence.Snapshotter{Dir: dir, Interval: 10 * time.Second, Source: p, Log: quiet} // never wrote: the whole file
	if err := s2.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js[0], old, 0o644); err != nil {
		t.Fatal(err)
	}
	if q, st := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") || st.Journal != 0 {
		t.Fatalf("a stale journal was applied (%d entries):\n%s\nwant\n%s", st.Journal, dump(q, "h1"), dump(p, "h1"))
	}
}

// entryKinds reads a journal as `zcat | jq` would and says of each entry
// whether it carries its nodes ("nodes") or leaves them out ("same").
func entryKinds(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var kinds []string
	for {
		var doc struct {
			Ringwatch struct {
				Version   int  `json:"version"`
				SameNodes bool `json:"same_nodes"`
			} `json:"ringwatch"`
			Nodes []json.RawMessage `json:"nodes"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return kinds
		} else if err != nil {
			t.Fatal(err)
		}
		switch {
		case doc.Ringwatch.SameNodes && doc.Nodes == nil:
			kinds = append(kinds, "same")
		case !doc.Ringwatch.SameNodes && len(doc.Nodes) > 0:
			kinds = append(kinds, "nodes")
		default:
			kinds = append(kinds, fmt.Sprintf("same_nodes %v with %d nodes", doc.Ringwatch.SameNodes, len(doc.Nodes)))
		}
	}
}

// TestJournalEntriesLeaveOutAnUnchangedLayout: an entry whose layout did
// not grow since the write before it leaves its nodes out; one after a
// new key carries them; the file and its entries load back as the live
// state, also after a restart whose first entry leaves them out.
func TestJournalEntriesLeaveOutAnUnchangedLayout(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ts := int64(3000)
	next := func(extra string) {
		feed(t, p, "h1", ts, float64(ts%7), extra)
		ts++
	}
	for range 10 {
		next("")
	}
	// Interval 10 s: an entry a second, the whole file every 20 entries.
	s := &persistence.Snapshotter{Dir: dir, Interval: 10 * time.Second, Source: p, Log: quiet}
	pass := func(s *persistence.Snapshotter) {
		t.Helper()
		if err := s.SnapshotAll(); err != nil {
			t.Fatal(err)
		}
	}
	pass(s) // the file
	next("")
	pass(s) // same layout
	next(`,"fan":{"rpm":1200}`)
	pass(s) // grown: nodes
	next(`,"fan":{"rpm":1300}`)
	pass(s) // same as the grown one
	js := journalFiles(t, dir, "h1")
	if len(js) != 1 {
		t.Fatalf("journals %v", js)
	}
	if got := strings.Join(entryKinds(t, js[0]), " "); got != "same nodes same" {
		t.Fatalf("entries: %s, want same nodes same", got)
	}
	q, st := reload(t, dir, "h1", nil)
	if got, want := dump(q, "h1"), dump(p, "h1"); got != want || st.Journal != 3 {
		t.Fatalf("file and journal (%d entries):\n%s\nlive:\n%s", st.Journal, got, want)
	}

	// A restart: the loaded state is seeded, and the new run's first entry
	// leaves out the nodes the old run's entries grew to.
	states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, quiet)
	s2 := &persistence.Snapshotter{Dir: dir, Interval: 10 * time.Second, Source: q, Log: quiet}
	views, last := q.Restored("h1", "toy")
	s2.SeedWith(persistence.Loaded{Host: "h1", Kind: "toy", Entries: states[0].Journal}, views, last)
	p = q
	next(`,"fan":{"rpm":1400}`)
	pass(s2)
	js = journalFiles(t, dir, "h1")
	if len(js) != 2 {
		t.Fatalf("journals after the restart %v", js)
	}
	if got := strings.Join(entryKinds(t, js[1]), " "); got != "same" {
		t.Fatalf("the new run's entries: %s, want same", got)
	}
	if r, _ := reload(t, dir, "h1", nil); dump(r, "h1") != dump(p, "h1") {
		t.Fatalf("after the restart:\n%s\nlive:\n%s", dump(r, "h1"), dump(p, "h1"))
	}
}

// TestFileNamesTheBucketsItCanRebuild: a whole file writes a longer
// period's bucket only when the period before it no longer holds all of
// its samples, names the others, and reads back every period as it was.
func TestFileNamesTheBucketsItCanRebuild(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	for ts := int64(3000); ts < 3400; ts++ { // 400 s: more than the 5m ring holds
		feed(t, p, "h1", ts, float64(ts%13), "")
	}
	if err := (&persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}).SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	got := entryPeriods(t, filepath.Join(dir, "h1", "toy.json.gz"), 0)
	// The 5m ring holds 3102 to 3399: the 15m buckets from 3105 on are
	// its buckets merged; those before lost some of theirs from it.
	var written, derived []int64
	for s := int64(2997); s <= 3393; s += 9 {
		if s < 3105 {
			written = append(written, s)
		} else {
			derived = append(derived, s)
		}
	}
	var hour []int64
	for s := int64(2988); s <= 3384; s += 36 {
		hour = append(hour, s)
	}
	want := map[string]string{"15m": fmt.Sprintf("derived %v, written %v", derived, written),
		"1h": fmt.Sprintf("derived %v, written []", hour), "1d": "derived [2592], written []", "1mo": "derived [0], written []"}
	if !maps.Equal(got, want) {
		t.Fatalf("the file's longer periods:\n%v\nwant\n%v", got, want)
	}
	if q, _ := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") {
		t.Fatalf("after reload:\n%s\nbefore:\n%s", dump(q, "h1"), dump(p, "h1"))
	}
}

// TestWholeFileIsWrittenAgainOnceItsJournalIsAsLarge: a series' whole file
// is written again once its journal holds about as much JSON as the file
// (1.5 times its bytes: TestJournalGrowsToOneAndAHalfFiles), after
// two intervals' worth of entries at least and six at most. A long history
// with small entries waits for the six; a young series, whose entries soon
// outweigh its file, is written again after two; a restarted hub, seeded
// with the bytes it loaded, counts the journal on where the run before it
// left off.
// TestJournalGrowsToOneAndAHalfFiles: entries are compressed with Huffman
// coding alone (about 1.5 times the bytes of the file's compression for
// the same JSON), so the whole file is written again once the journal
// holds 1.5 times the file's bytes, not as soon as it holds as many. An
// hour-old series with entries of 4 minutes of samples passes the file's
// bytes after three entries and 1.5 times them after four.
func TestJournalGrowsToOneAndAHalfFiles(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ts := int64(100000)
	more := func(seconds int64) {
		for end := ts + seconds; ts < end; ts += 3 {
			feed(t, p, "mid", ts, float64(ts%97)/7, "")
		}
	}
	size := func(pattern string) int64 { return bytesOf(t, filepath.Join(dir, "mid", pattern)) }
	// Interval 1 s: the whole file again after 2 to 6 entries.
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Second, Source: p, Log: quiet, Lockstep: true} // (the rule itself: no lead)
	more(3600)
	if err := s.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	kept := false // an entry appended to a journal as large as the file
	for entries := 0; ; entries++ {
		file, journal := size("toy.json.gz"), size("toy.journal-*.json.gz")
		more(240)
		if err := s.SnapshotAll(); err != nil {
			t.Fatal(err)
		}
		rewritten := size("toy.journal-*.json.gz") == 0
		switch due := entries >= 2 && 2*journal >= 3*file; {
		case rewritten != due:
			t.Fatalf("after %d entries (journal %d bytes, file %d): rewritten %v, want %v", entries, journal, file, rewritten, due)
		case rewritten:
			if !kept {
				t.Fatalf("the file was written again after %d entries, before its journal (%d bytes) outgrew it (%d)", entries, journal, file)
			}
			return
		case journal >= file:
			kept = true
		}
		if entries > 6 {
			t.Fatalf("no whole file after %d entries", entries)
		}
	}
}

func TestWholeFileIsWrittenAgainOnceItsJournalIsAsLarge(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ts := map[string]int64{"old": 100000, "young": 100000}
	more := func(host string, seconds int64) {
		for end := ts[host] + seconds; ts[host] < end; ts[host] += 3 {
			feed(t, p, host, ts[host], float64(ts[host]%97)/7, "")
		}
	}
	size := func(pattern string) int64 { return bytesOf(t, filepath.Join(dir, pattern)) }
	// Interval 1 s: an entry a second; the whole file again after 2 to 6.
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Second, Source: p, Log: quiet, Lockstep: true} // (the rule itself: no lead)
	write := func(s *persistence.Snapshotter) {
		t.Helper()
		if err := s.SnapshotAll(); err != nil {
			t.Fatal(err)
		}
	}
	more("old", 30*86400) // a month: a file far larger than an entry of 6 s
	more("young", 30)
	write(s)
	for i := range 3 {
		more("old", 6)
		more("young", 30)
		write(s)
		if js := journalFiles(t, dir, "young"); i < 2 && len(js) == 0 || i == 2 && len(js) != 0 {
			t.Fatalf("after %d entries, young's journal %v (file %d bytes): want its whole file after 2",
				i+1, js, size("young/toy.json.gz"))
		}
	}
	file, journal := size("old/toy.json.gz"), size("old/toy.journal-*.json.gz")
	if len(journalFiles(t, dir, "old")) != 1 || journal >= file {
		t.Fatalf("old's journal: %d bytes after 3 entries, its file %d: want it kept, and smaller", journal, file)
	}

	// A restart, seeded with what was loaded: three more entries, then the
	// file (six in all), not the file at once.
	states := persistence.LoadAll(dir, "hub", []aggregators.Kind{toy}, quiet)
	s2 := &persistence.Snapshotter{Dir: dir, Interval: time.Second, Source: p, Log: quiet}
	for _, st := range states {
		views, last := p.Restored(st.Host, st.Kind)
		if st.Host == "old" && (st.Journal != 3 || int64(st.FileBytes) != file || int64(st.JournalBytes) != journal) {
			t.Fatalf("loaded %d entries, %d and %d bytes; want 3, %d and %d", st.Journal, st.FileBytes, st.JournalBytes, file, journal)
		}
		s2.SeedWith(persistence.Loaded{Host: st.Host, Kind: st.Kind, Entries: st.Journal, FileBytes: st.FileBytes, JournalBytes: st.JournalBytes}, views, last)
	}
	n := untilRewritten(t, dir, "old", 3, func() { more("old", 6); write(s2) })
	if n != 3 {
		t.Fatalf("the whole file after %d more entries, want 3 (six in all)", n)
	}
	q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	for _, st := range persistence.LoadAll(dir, "hub", []aggregators.Kind{toy}, quiet) {
		q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
	}
	if dump(q, "old") != dump(p, "old") {
		t.Fatalf("after the file was written again:\n%s\nlive:\n%s", dump(q, "old"), dump(p, "old"))
	}
}

// TestRewritesOfAFleetThatStartedTogetherSpread: hosts that appear
// together write their first whole files together; their next whole files
// are spread over two intervals' worth of passes (Snapshotter.leadOf), so
// no pass writes more than a few of them, and they stay spread in the
// cycle after. In lockstep (no lead), every host's file is written again
// in one pass: the wave the lead removes.
func TestRewritesOfAFleetThatStartedTogetherSpread(t *testing.T) {
	const hosts, passes = 100, 70
	// wholeFiles runs the passes, 30 s of samples for every host before
	// each (the journal's cadence at a 5-minute interval), and returns how
	// many whole files each pass wrote.
	wholeFiles := func(lockstep bool) []int {
		p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
		s := &persistence.Snapshotter{Dir: t.TempDir(), Interval: 5 * time.Minute, Source: p, Log: quiet, Lockstep: lockstep}
		ts := int64(100000)
		var out []int
		for range passes {
			for i := range hosts {
				for k := range int64(10) {
					feed(t, p, fmt.Sprintf("h%03d", i), ts+3*k, float64(i+int(k)), "")
				}
			}
			ts += 30
			before := s.Stats()
			if err := s.SnapshotAll(); err != nil {
				t.Fatal(err)
			}
			after := s.Stats()
			out = append(out, int((after.Writes-after.JournalEntries)-(before.Writes-before.JournalEntries)))
		}
		return out
	}
	lockstep, spread := wholeFiles(true), wholeFiles(false)
	if lockstep[0] != hosts || spread[0] != hosts {
		t.Fatalf("first pass: %d and %d whole files, want %d (every host's first)", lockstep[0], spread[0], hosts)
	}
	if slices.Max(lockstep[1:]) != hosts {
		t.Fatalf("in lockstep, whole files written again per pass: %v; want every host's in one pass", lockstep)
	}
	total, busiest, passesWith := 0, 0, 0
	for _, n := range spread[1:] {
		total += n
		busiest = max(busiest, n)
		if n > 0 {
			passesWith++
		}
	}
	// Two intervals' worth of passes is 20: about 5 files a pass. The lead
	// shortens a host's first cycle only: at most one file more a host.
	if total < hosts || total > sum(lockstep[1:])+hosts || busiest > hosts/5 || passesWith < 15 {
		t.Fatalf("whole files written again per pass: %v (in lockstep %v); want every host's at least once, in 15 passes or more, at most %d in one, and at most one more a host than in lockstep",
			spread, lockstep, hosts/5)
	}
}

func sum(ns []int) (total int) {
	for _, n := range ns {
		total += n
	}
	return total
}
