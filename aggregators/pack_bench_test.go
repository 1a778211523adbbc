package aggregators

import (
	"os"
	"testing"
	"time"
)

// BenchmarkPackUnpack is the cost of packing one closed bucket of the
// realistic sample (on every bucket close: about half a pack per sample
// over the five periods) and of unpacking it (for views).
func BenchmarkPackUnpack(b *testing.B) {
	msg, err := os.ReadFile("testdata/system_info.json")
	if err != nil {
		b.Fatal(err)
	}
	f := NewFlattener(nil, nil)
	r := NewRings(Periods[0])
	now := time.Unix(1_795_000_100, 0)
	for range 3 {
		v, err := f.Flatten(msg)
		if err != nil {
			b.Fatal(err)
		}
		v.Host, v.Kind = "h", "k"
		_ = r.Add(v, now)
	}
	view := r.View("h", "k")
	var scratch []byte
	b.Run("pack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := *view.Open
			scratch = c.pack(view.Layout, scratch)
		}
	})
	packed := *view.Open
	packed.pack(view.Layout, nil)
	b.ReportMetric(float64(len(packed.packed)), "packed-bytes")
	b.Run("unpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = packed.unpack(view.Layout)
		}
	})
}
