package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/valyala/fastjson"

	"github.com/ringwatch/ringwatch/aggregators"
)

// MaxFileSize is the largest state file that is loaded, and MaxDecompressed
// the most a compressed one may unpack to: far above what the writer writes
// with the hub's bounds (series per kind, string lengths), far below memory.
const (
	MaxFileSize     = 256 << 20
	MaxDecompressed = 1 << 30
)

// State is one (host, kind)'s persisted state.
type State struct {
	Host, Kind string
	Layout     *aggregators.Layout
	Buckets    map[string][]*aggregators.Bucket // by period name
	Last       []byte                           // last raw sample, or nil
	LastTime   int64
	LastSeq    string // its number from its agent (bus.SeqHeader), or ""
	Skipped    int    // entries that could not be read and were left out
	// Saved is when the file was written (Unix nanoseconds; 0 if unknown);
	// Partial marks a journal entry, which holds only what changed since
	// the state written before it. Journal is how many journal entries
	// were applied on top of the file when it was loaded; FileBytes and
	// JournalBytes, the bytes of the file and of its journals as read.
	Saved                   int64
	Partial                 bool
	Journal                 int
	FileBytes, JournalBytes int
	// Derived, in a journal entry, names by period the buckets to rebuild
	// from the period before it (see EncodeEntry); apply rebuilds them.
	Derived map[string][]int64
}

// ErrCorrupt wraps every reason a file cannot be loaded.
var ErrCorrupt = errors.New("corrupt state file")

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// Decode reads a state file: ringwatch's format 2 (gzip-compressed or not),
// format 1, or GoDoxy's. counters name the kind's cumulative series (format
// 2 files carry them).
func Decode(data []byte, host, kind string, counters []string) (*State, error) {
	return DecodeKind(data, host, aggregators.Kind{Name: kind, Counters: counters})
}

// DecodeKind is Decode for a kind: its layout limit (MaxSeries; 0:
// MaxNodes), and its Imported hook, which rewrites the entries of a GoDoxy
// file.
func DecodeKind(data []byte, host string, k aggregators.Kind) (st *State, err error) {
	return decodeKindAfter(data, host, k, nil)
}

// decodeKindAfter is DecodeKind for a journal entry that follows a state
// on layout before (nil: none).
func decodeKindAfter(data []byte, host string, k aggregators.Kind, before *aggregators.Layout) (st *State, err error) {
	kind, counters, maxSeries := k.Name, k.Counters, k.MaxSeries
	// A fault the checks missed is still only a corrupt file: it is set
	// aside, and the hub starts.
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, corrupt("decoder fault: %v", r)
		}
	}()
	if len(data) == 0 {
		return nil, corrupt("empty file")
	}
	if len(data) > MaxFileSize {
		return nil, corrupt("%d bytes is over the %d byte limit", len(data), MaxFileSize)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b { // gzip
		buf := docBuffers.Get().(*bytes.Buffer) // nothing decoded points into the text
		defer docBuffers.Put(buf)
		if data, err = gunzip(buf, data, MaxDecompressed); err != nil {
			return nil, err
		}
	}
	p := parsers.Get() // a parser's value cache, reused, is most of a load's allocations
	defer parsers.Put(p)
	root, err := p.ParseBytes(data)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	if root.Type() != fastjson.TypeObject {
		return nil, corrupt("top level is not an object")
	}
	if v := root.GetInt("ringwatch", "version"); v >= FormatV2 && v <= FormatVersion {
		return decodeV2(root, host, kind, before)
	}
	periods := root.Get("entries")
	if periods == nil || periods.Type() != fastjson.TypeObject {
		return nil, corrupt(`no "entries" object`)
	}
	st = &State{Host: host, Kind: kind, Buckets: map[string][]*aggregators.Bucket{}}
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns(counters...)).WithLimit(maxSeries)
	for _, per := range aggregators.Periods {
		pv := periods.Get(per.Name)
		if pv == nil || pv.Type() == fastjson.TypeNull {
			continue
		}
		if pv.Type() != fastjson.TypeObject {
			return nil, corrupt("period %s is not an object", per.Name)
		}
		entries := pv.GetArray("entries")
		extra := pv.GetArray("buckets")
		var imported func([]byte) []byte
		if root.Get("ringwatch") == nil { // GoDoxy's own file, not ringwatch's format 1
			imported = k.Imported
		}
		for i, ev := range entries {
			var bv *fastjson.Value
			if i < len(extra) {
				bv = extra[i]
			}
			b, err := decodeBucket(f, per, ev, bv, imported)
			if err != nil {
				st.Skipped++
				continue
			}
			st.Buckets[per.Name] = append(st.Buckets[per.Name], b)
		}
	}
	if rw := root.Get("ringwatch"); rw != nil {
		if last := rw.Get("last"); last != nil && last.Type() == fastjson.TypeObject {
			st.Last = last.MarshalTo(nil)
			st.LastTime = last.GetInt64("timestamp")
		}
	}
	st.Layout = f.Layout()
	return st, nil
}

// parsers are reused between files; nothing decoded points into them.
var parsers fastjson.ParserPool

// decodeBucket turns one entry (a mean sample) and its optional ringwatch
// addition into a bucket aligned to per's interval.
func decodeBucket(f *aggregators.Flattener, per aggregators.Period, ev, extra *fastjson.Value, imported func([]byte) []byte) (*aggregators.Bucket, error) {
	raw := ev.MarshalTo(nil)
	if imported != nil {
		raw = imported(raw)
	}
	mean, err := f.Flatten(raw)
	if err != nil {
		return nil, err
	}
	start, count := mean.Time, uint64(1)
	var minV, maxV *aggregators.Values
	if extra != nil && extra.Type() == fastjson.TypeObject {
		if s := extra.Get("start"); s != nil && s.Type() == fastjson.TypeNumber {
			start = s.GetInt64()
		}
		if c := extra.GetUint64("count"); c > 0 && c < math.MaxUint32 {
			count = c
		}
		if m := extra.Get("min"); m != nil {
			minV, _ = f.Flatten(m.MarshalTo(nil))
		}
		if m := extra.Get("max"); m != nil {
			maxV, _ = f.Flatten(m.MarshalTo(nil))
		}
	}
	b := aggregators.NewBucket(aggregators.NewRing(per.Seconds()).Start(start))
	b.Count = uint32(count)
	b.Acc = make([]aggregators.Acc, len(mean.Num))
	for i, x := range mean.Num {
		if x != x {
			continue
		}
		a := aggregators.Acc{N: uint32(count), Val: x, Min: x, Max: x}
		if !mean.Layout.Nodes[i].Counter {
			a.Val = x * float64(count) // the file has the mean; a bucket keeps the sum
		}
		if minV != nil && i < len(minV.Num) && minV.Num[i] == minV.Num[i] {
			a.Min = minV.Num[i]
		}
		if maxV != nil && i < len(maxV.Num) && maxV.Num[i] == maxV.Num[i] {
			a.Max = maxV.Num[i]
		}
		b.Acc[i] = a
	}
	b.Lits = append(b.Lits, mean.Lits...)
	slices.SortFunc(b.Lits, func(a, c aggregators.Lit) int { return a.Index - c.Index })
	return b, nil
}
