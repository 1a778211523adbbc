package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
)

// ringsSource serves one period's rings, for the snapshotter's own tests.
type ringsSource struct{ r *aggregators.Rings }

func (s ringsSource) Views() []*aggregators.View { return s.r.Views() }
func (s ringsSource) LeanViews(host, kind string) []*aggregators.View {
	return []*aggregators.View{s.r.View(host, kind)}
}
func (s ringsSource) RangeLatest(func(*aggregators.Latest) bool) {}

// TestFinalPassWritesTheLeastRecentFirst: the final pass writes the hub's
// own host first, then the series never written, then those written longest
// ago, so that a pass cut short by the shutdown deadline loses least.
func TestFinalPassWritesTheLeastRecentFirst(t *testing.T) {
	r := aggregators.NewRings(aggregators.Periods[0])
	f := aggregators.NewFlattener(nil, nil)
	for i := range 6 {
		v, err := f.Flatten([]byte(`{"timestamp":3000,"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		v.Host, v.Kind = fmt.Sprintf("h%d", i), "toy"
		if err := r.Add(v, time.Unix(3000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	s := &Snapshotter{Source: ringsSource{r}, First: "h5", written: map[string]writtenAs{}}
	// h0 and h1 were written, h1 longer ago; both have changed since.
	s.written[aggregators.SeriesKey("h0", "toy")] = writtenAs{sig: "old", at: 200}
	s.written[aggregators.SeriesKey("h1", "toy")] = writtenAs{sig: "old", at: 100}
	var order []string
	for _, se := range s.changed(nil) {
		order = append(order, se.host)
	}
	if got, want := fmt.Sprint(order), "[h5 h2 h3 h4 h1 h0]"; got != want {
		t.Fatalf("final pass order %s, want %s", got, want)
	}
}
