package aggregators_test

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/ringwatch/ringwatch/aggregators"
)

// The comparison the house issue asked for: the hand-written scanner
// (BenchmarkFlatten) against a flattener on valyala/fastjson, on the same
// sample, in one run:
//
//	go test -run '^$' -bench 'Flatten|Part' -benchtime 20000x -count 2 ./aggregators/
func BenchmarkFlattenFastjson(b *testing.B) {
	f := aggregators.NewFastFlattener(nil, nil)
	msg := realistic(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Flatten(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzFastIsStrict(f *testing.F) {
	for _, s := range []string{
		`{"timestamp":1}`, `{"timestamp":1,"a":{"b":[1,2,{"name":"x","v":-1.5e3}]},"s":"\u00e9\n","t":true,"n":null}`,
		`{"timestamp":1,"a":"\ud83d\ude00"}`, `{"timestamp":01}`, `{"timestamp":1,}`, `{"timestamp":1.}`, `{"timestamp":1}x`,
		`{"timestamp":1,"a":"\x01"}`, `{"timestamp":1,"a":[1,]}`, `{"timestamp":1e400}`, ` {"timestamp" : 2 } `,
		`{"timestamp":12.345678901234567,"x":0.30000000000000004}`, `{"timestamp":1,"x":NaN}`, `{"timestamp":1,"x":-Inf}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := aggregators.NewFastFlattener(nil, nil)
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
			return
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
				if got := v.Num[v.Layout.Lookup(k).Index]; got != f {
					t.Fatalf("%s = %v, want %v", k, got, f)
				}
			}
		}
	})
}

func BenchmarkPartValidate(b *testing.B) {
	msg := realistic(b)
	for b.Loop() {
		_ = fastjson.ValidateBytes(msg)
	}
}
func BenchmarkPartUTF8(b *testing.B) {
	msg := realistic(b)
	for b.Loop() {
		_ = utf8.Valid(msg)
	}
}
func BenchmarkPartParse(b *testing.B) {
	msg := realistic(b)
	var p fastjson.Parser
	for b.Loop() {
		_, _ = p.ParseBytes(msg)
	}
}
