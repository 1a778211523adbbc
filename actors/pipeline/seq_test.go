package pipeline

import (
	"slices"
	"testing"
)

// TestSeqWindow: which numbers of an agent's samples are new, across
// reordering, gaps wider than a word, the window's edge and a restart.
func TestSeqWindow(t *testing.T) {
	var w seqWindow
	var got []bool
	top := uint64(144 + seqWindowBits)
	for _, n := range []uint64{5, 5, 3, 6, 3, 4, 100, 37, 37, 100, top, 144, 145, 145, 100} {
		got = append(got, w.fresh(1, n))
	}
	// 144 is the window's width back from top (just outside it: taken);
	// 145 is the oldest inside it; 100 is far outside (taken, a duplicate
	// costs less than a loss).
	want := []bool{true, false, true, true, false, true, true, true, false, false, true, true, true, false, true}
	if !slices.Equal(got, want) {
		t.Fatalf("fresh: %v\n want %v", got, want)
	}
	if !w.fresh(2, 1) || w.fresh(2, 1) || !w.fresh(1, top) {
		t.Fatal("a new boot starts afresh")
	}
	// An agent polling every 100 ms with two kinds that finds its
	// connection dead 15 s after its last confirmed round trip sends the
	// last 300 again: the hub had every one of them.
	w = seqWindow{}
	for n := uint64(1); n <= 1000; n++ {
		w.fresh(7, n)
	}
	for n := uint64(701); n <= 1000; n++ {
		if w.fresh(7, n) {
			t.Fatalf("sample %d, sent again 300 numbers back, taken as new", n)
		}
	}
	// Shifts by a whole number of words and by more than a word keep bits.
	w = seqWindow{}
	w.fresh(1, 10)
	w.fresh(1, 10+64)
	w.fresh(1, 10+64+70)
	if w.fresh(1, 10) || w.fresh(1, 74) || !w.fresh(1, 11) {
		t.Fatal("bits lost over word-sized shifts")
	}
}
