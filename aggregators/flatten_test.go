package aggregators_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/ringwatch/ringwatch/aggregators"
)

// FuzzFlattenIsStrict checks the hand-written scanner against encoding/json:
// whatever it accepts is valid JSON, every valid object with a timestamp is
// accepted, and the numbers it reads are the numbers encoding/json reads.
// Unlike encoding/json, the scanner also rejects invalid UTF-8.
func FuzzFlattenIsStrict(f *testing.F) {
	for _, s := range []string{
		`{"timestamp":1}`, `{"timestamp":1,"a":{"b":[1,2,{"name":"x","v":-1.5e3}]},"s":"\u00e9\n","t":true,"n":null}`,
		`{"timestamp":1,"a":"\ud83d\ude00"}`, `{"timestamp":01}`, `{"timestamp":1,}`, `{"timestamp":1.}`, `{"timestamp":1}x`,
		`{"timestamp":1,"a":"\x01"}`, `{"timestamp":1,"a":[1,]}`, `{"timestamp":1e400}`, ` {"timestamp" : 2 } `,
		`{"timestamp":1,"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}}}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := aggregators.NewFlattener(nil, nil)
		v, err := fl.Flatten(data)
		valid := json.Valid(data) && utf8.Valid(data)
		if err == nil && !valid {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if !valid {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return // valid, but not an object
		}
		ts, ok := m["timestamp"].(float64)
		if !ok || ts < 0 || ts > 1<<40 || depth(m) > 31 {
			return
		}
		if err != nil {
			t.Fatalf("rejected %q: %v", data, err)
		}
		if v.Time != int64(ts) {
			t.Fatalf("timestamp %d, want %d", v.Time, int64(ts))
		}
		for k, x := range m {
			if f, ok := x.(float64); ok && !math.IsInf(f, 0) {
				if got, ok := v.Num[v.Layout.Lookup(k).Index], true; ok && got != f {
					t.Fatalf("%s = %v, want %v", k, got, f)
				}
			}
		}
	})
}

func depth(x any) int {
	switch x := x.(type) {
	case map[string]any:
		d := 0
		for _, v := range x {
			d = max(d, depth(v))
		}
		return d + 1
	case []any:
		d := 0
		for _, v := range x {
			d = max(d, depth(v))
		}
		return d + 1
	}
	return 0
}

// realistic is a system_info sample of a modest server: 8 cores, 2 file
// systems, 3 disks, 3 interfaces, 6 sensors (1.9 KB).
func realistic(b *testing.B) []byte {
	msg, err := os.ReadFile("testdata/system_info.json")
	if err != nil {
		b.Fatal(err)
	}
	return msg
}

// BenchmarkFlatten is the decode half of the ingest budget.
func BenchmarkFlatten(b *testing.B) {
	f := aggregators.NewFlattener(nil, nil)
	msg := realistic(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Flatten(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib is a baseline for the same run: encoding/json
// decoding the same sample into a generic map, which is only the first step
// of what the ingest stage does.
func BenchmarkDecodeStdlib(b *testing.B) {
	msg := realistic(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastjsonFloor is what any strict flattener on valyala/fastjson
// would pay before walking the tree: fastjson.ValidateBytes (its parser
// alone accepts NaN, 01 and bad escapes) and Parser.ParseBytes. It costs as
// much as the whole of BenchmarkFlatten, which is why the hand-written
// scanner stays; the full fastjson flattener measured 1.9x the scanner's time
// (commit 9da1fea).
func BenchmarkFastjsonFloor(b *testing.B) {
	msg := realistic(b)
	var p fastjson.Parser
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := fastjson.ValidateBytes(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := p.ParseBytes(msg); err != nil {
			b.Fatal(err)
		}
	}
}
