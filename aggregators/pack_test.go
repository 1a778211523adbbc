package aggregators

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackEveryModeReadsBackExactly packs accumulators chosen to land in
// every mode and at their edges (values with a few decimals, a steady mean whose N×min is or is not its
// sum, whole numbers near 2^53, a counter that rose or fell back, -0, float32
// and float64 values, a sum whose N×min overflows the exact range) and a
// thousand random ones, for means and counters, and reads each back bit for
// bit. It fails if a mode drops a value it cannot rebuild.
func TestPackEveryModeReadsBackExactly(t *testing.T) {
	third := 0.1 + 0.1 + 0.1 // != 3*0.1
	accs := []Acc{
		{N: 1, Val: 5, Min: 5, Max: 5},
		{N: 3, Val: 15, Min: 5, Max: 5},
		{N: 3, Val: third, Min: 0.1, Max: 0.1},
		{N: 3, Val: 0.30000000000000004, Min: 0.1, Max: 0.1},
		{N: 2, Val: math.Copysign(0, -1), Min: math.Copysign(0, -1), Max: math.Copysign(0, -1)},
		{N: 2, Val: 0, Min: math.Copysign(0, -1), Max: 0},
		{N: 4, Val: 4e15, Min: 1e15, Max: 1e15},
		{N: 4, Val: 1 << 53, Min: 1 << 51, Max: 1 << 51},
		{N: 2, Val: 1<<53 - 2, Min: 1<<52 - 1, Max: 1<<52 - 1},
		{N: 3, Val: 3 * 1e300, Min: 1e300, Max: 1e300},
		{N: 3, Val: 12, Min: -7, Max: 10},
		{N: 3, Val: 4294971392, Min: 4294967296, Max: 4294971392},
		{N: 3, Val: 1.5 + 2.25, Min: 1.5, Max: 2.25},
		{N: 3, Val: 36.913, Min: 12.345678901234567, Max: 12.4},
		{N: 2, Val: 7.25, Min: 3, Max: 7.25},
		{N: 2, Val: 1e-300, Min: -1e300, Max: 1e300},
		{N: 3, Val: 45.123 + 45.2 + 45.046, Min: 45.046, Max: 45.2},
		{N: 2, Val: 0.52 + 0.61, Min: 0.52, Max: 0.61},
		{N: 2, Val: -0.001, Min: -12.5, Max: 12.499},
		{N: 1, Val: 1234567.891, Min: 1234567.891, Max: 1234567.891},
		{N: 3, Val: 4503599627370495.5, Min: 0.1, Max: 1e-3},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		n := 1 + rng.Uint32N(40)
		pick := func() float64 {
			switch rng.IntN(6) {
			case 5:
				return float64(rng.Int64N(2_000_000)-1_000_000) / pow10[rng.IntN(5)]
			case 0:
				return float64(rng.Int64N(1<<53)) - 1<<52
			case 1:
				return float64(float32(rng.NormFloat64() * 100))
			case 2:
				return rng.NormFloat64() * 1e6
			case 3:
				return float64(rng.IntN(3))
			}
			return math.Copysign(0, -1)
		}
		lo, hi := pick(), pick()
		if hi < lo {
			lo, hi = hi, lo
		}
		var val float64
		switch rng.IntN(4) {
		case 0:
			val = float64(n) * lo
		case 1:
			val = hi
		default:
			val = pick()
		}
		accs = append(accs, Acc{N: n, Val: val, Min: lo, Max: hi})
	}
	for _, counter := range []bool{false, true} {
		specs := []NodeSpec{{Path: nil, Type: Object}}
		for i := range accs {
			specs = append(specs, NodeSpec{Path: []string{string(rune('a'+i%26)) + string(rune('0'+i/26%10)) + string(rune('0'+i/260))}, Type: Number, Counter: counter})
		}
		l, err := BuildLayout(specs)
		if err != nil {
			t.Fatal(err)
		}
		wide := WithAcc(3000, 40, append([]Acc{{N: 40, Val: 40, Min: 1, Max: 1}}, accs...), nil)
		b := wide.Clone()
		b.pack(l, nil)
		if b.Acc != nil || b.PackedBytes() == 0 {
			t.Fatal("not packed")
		}
		got := b.unpack(l)
		for i, want := range wide.Acc {
			g := got.Acc[i]
			if g.N != want.N || !same(g.Val, want.Val) || !same(g.Min, want.Min) || !same(g.Max, want.Max) {
				t.Errorf("counter=%v node %d: read back %+v, want %+v", counter, i, g, want)
			}
		}
	}
}
