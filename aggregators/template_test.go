package aggregators

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// flattenBoth flattens next with f (after base, so with base's template
// when next fits it) and with a flattener that learned base but scans
// next in full, and fails unless both give the same values, the same
// error and the same counts. It reports whether f took the quick path.
func flattenBoth(t *testing.T, base, next []byte) (quick bool) {
	t.Helper()
	f, full := NewFlattener(nil, ParsePatterns("sent")), NewFlattener(nil, ParsePatterns("sent"))
	var vf, vfull Values
	errBase := f.FlattenInto(base, &vf)
	if err := full.FlattenInto(base, &vfull); (err == nil) != (errBase == nil) {
		t.Fatalf("base: %v and %v", errBase, err)
	}
	quick = f.tpl.layout != nil && f.tpl.layout == f.layout && f.quick(next, &Values{})
	err := f.FlattenInto(next, &vf)
	full.tpl = template{} // no quick path
	errFull := full.FlattenInto(next, &vfull)
	if (err == nil) != (errFull == nil) || (err != nil && err.Error() != errFull.Error()) {
		t.Fatalf("%q after %q: error %v, full scan %v", next, base, err, errFull)
	}
	if f.Dropped != full.Dropped || f.LongLiterals != full.LongLiterals {
		t.Fatalf("%q: dropped %d long %d, full scan %d %d", next, f.Dropped, f.LongLiterals, full.Dropped, full.LongLiterals)
	}
	if err != nil {
		return quick
	}
	if vf.Time != vfull.Time || vf.Layout.signature() != vfull.Layout.signature() || len(vf.Num) != len(vfull.Num) || len(vf.Lits) != len(vfull.Lits) {
		t.Fatalf("%q: time %d layout %d nodes %d lits, full scan %d %d %d", next, vf.Time, len(vf.Num), len(vf.Lits), vfull.Time, len(vfull.Num), len(vfull.Lits))
	}
	for i := range vf.Num {
		if math.Float64bits(vf.Num[i]) != math.Float64bits(vfull.Num[i]) && !(math.IsNaN(vf.Num[i]) && math.IsNaN(vfull.Num[i])) {
			t.Fatalf("%q: node %v = %v, full scan %v", next, vf.Layout.Nodes[i].Path, vf.Num[i], vfull.Num[i])
		}
	}
	for i := range vf.Lits {
		if vf.Lits[i].Index != vfull.Lits[i].Index || !bytes.Equal(vf.Lits[i].Raw, vfull.Lits[i].Raw) {
			t.Fatalf("%q: literal %d = %d %s, full scan %d %s", next, i, vf.Lits[i].Index, vf.Lits[i].Raw, vfull.Lits[i].Index, vfull.Lits[i].Raw)
		}
	}
	return quick
}

// TestTemplateGivesWhatTheFullScanGives: a sample of the same shape as the
// one before (other numbers, other strings) is parsed through the
// template, and gives exactly what a full scan gives; a sample of another
// shape (a key, whitespace, a type, an array element's name, a null, a
// value out of range, a long string, invalid JSON) falls back to the full
// scan, with the same result or the same error.
func TestTemplateGivesWhatTheFullScanGives(t *testing.T) {
	real, err := os.ReadFile("testdata/system_info.json")
	if err != nil {
		t.Fatal(err)
	}
	toy := `{"timestamp":100,"cpu":1.5,"sent":10,"up":true,"dev":"sda","s":[{"name":"a","t":30},{"name":"b","t":31}],"m":{"x":1,"y":null}}`
	for _, c := range []struct {
		base, next string
		quick      bool
	}{
		{toy, `{"timestamp":101,"cpu":-2e3,"sent":11,"up":false,"dev":"sdb","s":[{"name":"a","t":32.25},{"name":"b","t":0}],"m":{"x":-0,"y":null}}`, true},
		{toy, `{"timestamp":101,"cpu":1.5,"sent":10,"up":true,"dev":"s\u00e9","s":[{"name":"a","t":30},{"name":"b","t":31}],"m":{"x":1,"y":null}}`, true},
		{toy, strings.Replace(toy, `"name":"b"`, `"name":"c"`, 1), false}, // another sensor: another node
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpu":"1.5"`, 1), false}, // another type
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpu" :1.5`, 1), false},
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpv":1.5`, 1), false},
		{toy, strings.Replace(toy, `"y":null`, `"y":2`, 1), false},
		{toy, strings.Replace(toy, `"x":1`, `"x":null`, 1), false},
		{toy, strings.Replace(toy, `"up":true`, `"up":null`, 1), false},
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpu":1e999`, 1), false},
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpu":1.5x`, 1), false},
		{toy, strings.Replace(toy, `"cpu":1.5`, `"cpu":01`, 1), false},
		{toy, strings.Replace(toy, `"dev":"sda"`, `"dev":"`+strings.Repeat("x", 300)+`"`, 1), false},
		{toy, strings.Replace(toy, `"dev":"sda"`, `"dev":"\x01"`, 1), false},
		{toy, strings.Replace(toy, `"timestamp":100`, `"timestamp":-1`, 1), true},
		{toy, toy + " ", false},
		{toy, toy[:len(toy)-1], false},
		{string(real), strings.Replace(string(real), `"timestamp":1795000000`, `"timestamp":1795000001`, 1), true},
	} {
		if got := flattenBoth(t, []byte(c.base), []byte(c.next)); got != c.quick {
			t.Errorf("%q: quick path %v, want %v", c.next, got, c.quick)
		}
	}
}

// FuzzTemplateGivesWhatTheFullScanGives: whatever follows whatever, the
// template's path and the full scan agree.
func FuzzTemplateGivesWhatTheFullScanGives(f *testing.F) {
	toy := `{"timestamp":100,"cpu":1.5,"sent":10,"up":true,"dev":"sda","s":[{"name":"a","t":30},{"name":"b","t":31}],"m":{"x":1,"y":null}}`
	f.Add([]byte(toy), []byte(strings.Replace(toy, "1.5", "2.75", 1)))
	f.Add([]byte(toy), []byte(strings.Replace(toy, `"a"`, `"b"`, 1)))
	f.Add([]byte(`{"timestamp":1,"a":[1,2,3]}`), []byte(`{"timestamp":1,"a":[1,2,3,4]}`))
	f.Fuzz(func(t *testing.T, base, next []byte) {
		flattenBoth(t, base, next)
	})
}

// BenchmarkFlattenFullScan is BenchmarkFlattenTemplate without the
// template: what a sample of a new shape costs, and what every sample cost
// before.
func BenchmarkFlattenFullScan(b *testing.B) {
	benchFlatten(b, func(f *Flattener) { f.tpl.layout = nil }) // as after a sample of another shape
}

// BenchmarkFlattenTemplate flattens samples of one shape through the
// template.
func BenchmarkFlattenTemplate(b *testing.B) {
	benchFlatten(b, func(*Flattener) {})
}

// benchFlatten flattens the realistic sample again and again, calling
// before first each time.
func benchFlatten(b *testing.B, before func(*Flattener)) {
	f := NewFlattener(nil, nil)
	msg, err := os.ReadFile("testdata/system_info.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var v Values
	for b.Loop() {
		before(f)
		if err := f.FlattenInto(msg, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNumbersParseAsParseFloat: the scanner's fast path for numbers of up
// to 19 digits with a mantissa of at most 2^53 gives ParseFloat's value, bit
// for bit, as do the numbers past it.
func TestNumbersParseAsParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := NewFlattener(nil, nil)
	for i := range 200000 {
		var s string
		switch i % 4 {
		case 0: // a shortest float64, 15 to 17 digits
			s = strconv.FormatFloat(rng.Float64()*math.Pow(10, float64(rng.IntN(12)-2)), 'f', -1, 64)
		case 1: // a 2^53 neighbourhood
			s = strconv.FormatUint(1<<53-50+rng.Uint64N(100), 10)
			at := rng.IntN(len(s))
			s = s[:at] + "." + s[at:]
			if at == 0 {
				s = "0" + s
			}
		case 2: // up to 21 digits
			s = strconv.FormatUint(rng.Uint64(), 10) + strconv.Itoa(rng.IntN(100))
			if at := rng.IntN(len(s)); at > 0 {
				s = s[:at] + "." + s[at:]
			}
		case 3:
			s = "-0.000" + strconv.FormatUint(rng.Uint64N(1<<54), 10)
		}
		f.data, f.pos = []byte(s), 0
		got, err := f.number()
		want, werr := strconv.ParseFloat(s, 64)
		if err != nil || werr != nil || math.Float64bits(got) != math.Float64bits(want) || f.pos != len(s) {
			t.Fatalf("%s: %v (%v), ParseFloat %v (%v)", s, got, err, want, werr)
		}
	}
}
