package persistence_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/persistence"
)

// TestWholeFilesCopyThePartsThatDidNotChange: the next whole file of a
// series copies from the file before it the parts of its longer periods
// whose buckets did not change, and reads back as the hub holds it; a file
// changed under the snapshotter is not copied from.
func TestWholeFilesCopyThePartsThatDidNotChange(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	ts := int64(100000)
	more := func(seconds int64) {
		for end := ts + seconds; ts < end; ts += 12 {
			feed(t, p, "h1", ts, float64(ts%97)/7, "")
		}
	}
	// Interval 1 s: an entry every second, the whole file again after 2
	// to 6 entries.
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Second, Source: p, Log: quiet}
	write := func() {
		t.Helper()
		if err := s.SnapshotAll(); err != nil {
			t.Fatal(err)
		}
	}
	more(4000) // more than the 1h ring holds
	write()
	if got := s.Stats().PartsCopied; got != 0 {
		t.Fatalf("the first file copied %d parts", got)
	}
	untilRewritten(t, dir, "h1", 6, func() { more(100); write() }) // at most ten minutes on
	copied := s.Stats().PartsCopied
	if copied < 4 { // the 1h ring's older parts and the 1d ring's oldest
		t.Fatalf("%d parts copied from the file before, want at least 4", copied)
	}
	if q, _ := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") {
		t.Fatalf("after a file with copied parts:\n%s\nbefore:\n%s", dump(q, "h1"), dump(p, "h1"))
	}

	// Each part of the file on disk changed under the snapshotter: the
	// next whole file copies none of them, and reads back.
	name := filepath.Join(dir, "h1", "toy.json.gz")
	file, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	parts := persistence.FileParts(s, "h1", "toy")
	if len(parts) < 6 {
		t.Fatalf("%d parts in the file", len(parts))
	}
	for _, pt := range parts {
		file[pt[0]+pt[1]/2] ^= 0x55
	}
	if err := os.WriteFile(name, file, 0o600); err != nil {
		t.Fatal(err)
	}
	untilRewritten(t, dir, "h1", 6, func() { more(36); write() })
	if got := s.Stats().PartsCopied; got != copied {
		t.Fatalf("%d parts copied from a file changed under the snapshotter", got-copied)
	}
	if q, _ := reload(t, dir, "h1", nil); dump(q, "h1") != dump(p, "h1") {
		t.Fatalf("after the file was written again:\n%s\nbefore:\n%s", dump(q, "h1"), dump(p, "h1"))
	}
}

// TestAnOpenBucketsPartIsNeverCopied: a part holding an open bucket (one
// the period before does not cover: here there is no period before) is
// encoded in every file, since the bucket keeps changing.
func TestAnOpenBucketsPartIsNeverCopied(t *testing.T) {
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	hour := aggregators.Periods[2]
	views := func() map[string]*aggregators.View {
		return map[string]*aggregators.View{hour.Name: p.View(hour, "h1", "toy")}
	}
	for ts := int64(36000); ts < 36000+36*30; ts += 12 {
		feed(t, p, "h1", ts, float64(ts%5), "")
	}
	var enc persistence.FileEncoder
	v := views()
	if _, _, err := enc.Encode("h1", "toy", v[hour.Name].Layout, v, nil, time.Unix(40000, 0)); err != nil {
		t.Fatal(err)
	}
	feed(t, p, "h1", 36000+36*30-2, 50, "") // into the open bucket
	v = views()
	file, copied, err := enc.Encode("h1", "toy", v[hour.Name].Layout, v, nil, time.Unix(40001, 0))
	if err != nil {
		t.Fatal(err)
	}
	if copied != 2 { // the two parts of closed buckets only
		t.Fatalf("%d parts copied, want 2", copied)
	}
	st, err := persistence.Decode(file, "h1", "toy", toy.Counters)
	if err != nil {
		t.Fatal(err)
	}
	got, want := st.Buckets[hour.Name], v[hour.Name].List(nil)
	if len(got) != len(want) || got[len(got)-1].Count != want[len(want)-1].Count || want[len(want)-1].Count != 4 {
		t.Fatalf("read %d buckets, the open one of %d samples; want %d, of %d", len(got), got[len(got)-1].Count, len(want), want[len(want)-1].Count)
	}
}

// TestEveryFormatVersionLoads: a file of any version this hub or an
// earlier one wrote is read, not set aside: a hub upgraded in place keeps
// its state. (Versions 4 and 5 were refused by the loader until version 6
// came.)
func TestEveryFormatVersionLoads(t *testing.T) {
	p := fed(t, "h1", map[int64]float64{3000: 10, 3001: 20, 3002: 90, 3003: 5, 3010: 7})
	views := map[string]*aggregators.View{}
	for _, per := range aggregators.Periods {
		views[per.Name] = p.View(per, "h1", "toy")
	}
	file := persistence.EncodeV2(nil, "h1", "toy", views["5m"].Layout, views, nil, time.Unix(3020, 0))
	head := fmt.Sprintf(`{"ringwatch":{"version":%d,`, persistence.FormatVersion)
	if !bytes.HasPrefix(file, []byte(head)) {
		t.Fatalf("file begins %.40s", file)
	}
	for v := 2; v <= persistence.FormatVersion; v++ {
		old := bytes.Replace(file, []byte(head), fmt.Appendf(nil, `{"ringwatch":{"version":%d,`, v), 1)
		st, err := persistence.Decode(old, "h1", "toy", toy.Counters)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		q := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
		q.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
		if got, want := dump(q, "h1"), dump(p, "h1"); got != want {
			t.Fatalf("version %d read as:\n%s\nwant:\n%s", v, got, want)
		}
	}
}

// TestPartsThatAreNotObjectsAreCorrupt: a period's parts are period-shaped
// objects ({} holds no bucket); anything else makes the file corrupt (set
// aside by the loader), not a panic or a silent gap.
func TestPartsThatAreNotObjectsAreCorrupt(t *testing.T) {
	doc := func(parts string) []byte {
		return []byte(`{"ringwatch":{"version":6,"host":"h1","kind":"toy","saved":1},"nodes":[{"path":[],"type":"object"},{"path":["cpu"],"type":"number"}],` +
			`"periods":{"1h":{"interval":36,"parts":[` + parts + `]}}}`)
	}
	st, err := persistence.Decode(doc(`{"start":[36],"count":[2],"numbers":[{"node":1,"sum":[3]}]},{}`), "h1", "toy", nil)
	if err != nil || len(st.Buckets["1h"]) != 1 || st.Buckets["1h"][0].Count != 2 {
		t.Fatalf("a part and the empty one that ends the list: %+v, %v", st, err)
	}
	for _, bad := range []string{`1`, `{},null`, `{"start":[36],"count":[]}`} {
		if _, err := persistence.Decode(doc(bad), "h1", "toy", nil); err == nil || !strings.Contains(err.Error(), "part") {
			t.Errorf("parts [%s]: %v, want an error naming the part", bad, err)
		}
	}
}
