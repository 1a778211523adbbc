package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fastjson"

	"github.com/ringwatch/ringwatch/aggregators"
)

// Format 2 is columnar JSON, gzip-compressed (<kind>.json.gz; `zcat | jq`
// reads it). One object per (host, kind):
//
//	{"ringwatch": {"version": 5, "host", "kind", "saved", "saved_ns", "last_seq", "last": <the last raw sample>},
//	 "nodes": [{"path": [], "type": "object"}, {"path": ["cpu_average"], "type": "number"},
//	           {"path": ["network", "bytes_sent"], "type": "number", "counter": true}, ...],
//	 "periods": {"5m": {"interval": 3, "start": [<bucket starts>], "count": [<samples per bucket>],
//	                    "numbers": [{"node": 1, "sum": [...], "min": [...], "max": [...], "n": [...]}, ...],
//	                    "present": [{"node": 0, "n": [...]}, ...],
//	                    "literals": [{"node": 7, "values": [<raw JSON value>, ...]}, ...]},
//	             "15m": {"interval": 9, "derived": [<starts rebuilt from 5m>], "start": [...], ...}, ...}}
//
// nodes is the layout, in index order. Each period lists its buckets
// column by column: for a number node, "sum" is the sum of its values in
// each bucket (a counter's last value; null where it was absent), "min"
// and "max" are left out when every bucket's minimum equals its sum (one
// sample each) or its maximum its minimum, and "n" (how many samples had
// it) when that is the bucket's count wherever present; a column of whole
// numbers is written "dsum", "dmin" or "dmax", as differences from the
// value before it (appendNumbers). Objects, arrays and
// literals keep their counts in "present"; literals their last values.
// Keys are written once per file, not once per bucket, and closed buckets'
// whole numbers stay short: with gzip, a host with every period full takes
// a fraction of format 1's size.

// FormatV2 is the version format 2 files carried before whole-number
// columns were written as deltas (3: format 2 with "dsum", "dmin" and
// "dmax"; 4: a journal entry may leave "nodes" out and say "same_nodes":
// its layout is the one of the state written before it); FormatVersion is
// the one written now (5: a period of a file or a journal entry may list
// "derived" bucket starts, buckets not written because the period before
// it holds all their samples, rebuilt from that period's buckets when they
// are read: {"15m": {"interval": 9, "derived": [2997], "start": [], ...}};
// 6: a whole file writes the longer periods in "parts", see fileWriter).
// All are read.
const (
	FormatV2      = 2
	FormatV3      = 3
	FormatVersion = 6
)

var nodeTypeNames = [...]string{aggregators.Object: "object", aggregators.Array: "array", aggregators.Number: "number", aggregators.Literal: "literal"}

// EncodeV2 renders one (host, kind)'s state in format 2, uncompressed.
func EncodeV2(dst []byte, host, kind string, l *aggregators.Layout, views map[string]*aggregators.View, last *aggregators.Latest, saved time.Time) []byte {
	return encodeViews(dst, nil, host, kind, l, views, last, saved)
}

// encodeViews is EncodeV2 unpacking closed buckets into u's memory. Like a
// journal entry, a whole file names rather than writes the buckets of a
// longer period that the period before it holds every sample of (see
// EntryContent): a third of the longer periods' buckets when the rings are
// full, all of them while a host is younger than five minutes.
func encodeViews(dst []byte, u *aggregators.Unpacker, host, kind string, l *aggregators.Layout, views map[string]*aggregators.View, last *aggregators.Latest, saved time.Time) []byte {
	lists, derived := EntryContent(views, &[aggregators.NumPeriods][]*aggregators.Bucket{}, u)
	return encodeDoc(dst, host, kind, l, lists, derived, last, saved, wholeFile)
}

// EncodeEntry renders a journal entry: the buckets of each period that
// changed since the state written before it (see View.Since), and the
// starts of the buckets of longer periods to rebuild from the period
// before them (derived, by period name). sameNodes says the layout has not
// grown since that state: the entry leaves its nodes out (about a tenth of
// a realistic host's entry) and the reader takes them from that state.
func EncodeEntry(dst []byte, host, kind string, l *aggregators.Layout, lists map[string][]*aggregators.Bucket, derived map[string][]int64, last *aggregators.Latest, saved time.Time, sameNodes bool) []byte {
	doc := entryWithNodes
	if sameNodes {
		doc = entrySameNodes
	}
	return encodeDoc(dst, host, kind, l, lists, derived, last, saved, doc)
}

// What encodeDoc writes.
const (
	wholeFile = iota
	entryWithNodes
	entrySameNodes
)

// encodeDoc renders a format 2 document of the given buckets per period. A
// partial one (a journal entry) holds only what changed since the state
// written before it, and says so.
func encodeDoc(dst []byte, host, kind string, l *aggregators.Layout, lists map[string][]*aggregators.Bucket, derived map[string][]int64, last *aggregators.Latest, saved time.Time, doc int) []byte {
	dst = appendHead(dst, host, kind, l, last, saved, doc)
	return appendPeriods(dst, l, lists, derived)
}

// appendHead writes a document's header and nodes, up to and with the
// opening of its "periods" object.
func appendHead(dst []byte, host, kind string, l *aggregators.Layout, last *aggregators.Latest, saved time.Time, doc int) []byte {
	dst = append(dst, `{"ringwatch":{"version":`...)
	dst = strconv.AppendInt(dst, FormatVersion, 10)
	dst = append(dst, `,"host":`...)
	dst = aggregators.AppendString(dst, host)
	dst = append(dst, `,"kind":`...)
	dst = aggregators.AppendString(dst, kind)
	dst = append(dst, `,"saved":`...)
	dst = strconv.AppendInt(dst, saved.Unix(), 10)
	dst = append(dst, `,"saved_ns":`...)
	dst = strconv.AppendInt(dst, saved.UnixNano(), 10)
	if doc != wholeFile {
		dst = append(dst, `,"partial":true`...)
	}
	if doc == entrySameNodes {
		dst = append(dst, `,"same_nodes":true`...)
	}
	if last != nil && last.Seq != "" {
		dst = append(dst, `,"last_seq":`...)
		dst = aggregators.AppendString(dst, last.Seq)
	}
	dst = append(dst, `,"last":`...)
	if last != nil && len(last.Body()) > 0 {
		dst = append(dst, last.Body()...)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, '}')
	if doc == entrySameNodes {
		return append(dst, `,"periods":{`...)
	}
	dst = append(dst, `,"nodes":[`...)
	for i, n := range l.Nodes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"path":[`...)
		for j, k := range n.Path {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = aggregators.AppendString(dst, k)
		}
		dst = append(dst, `],"type":"`...)
		dst = append(dst, nodeTypeNames[n.Type]...)
		dst = append(dst, '"')
		if n.Counter {
			dst = append(dst, `,"counter":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, `],"periods":{`...)
}

// appendPeriods writes each period's buckets, and the starts of those to
// derive, and closes the document.
func appendPeriods(dst []byte, l *aggregators.Layout, lists map[string][]*aggregators.Bucket, derived map[string][]int64) []byte {
	first := true
	for _, p := range aggregators.Periods {
		bs, ds := lists[p.Name], derived[p.Name]
		if len(bs) == 0 && len(ds) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = aggregators.AppendString(dst, p.Name)
		dst = append(dst, ':')
		dst = appendPeriod(dst, p, l, bs, ds)
	}
	return append(dst, "}}"...)
}

func appendPeriod(dst []byte, p aggregators.Period, l *aggregators.Layout, bs []*aggregators.Bucket, derived []int64) []byte {
	dst = appendBuckets(append(appendPeriodHead(dst, p, derived), ','), l, bs)
	return append(dst, '}')
}

// appendPeriodHead opens a period's object: its interval and the buckets
// to derive.
func appendPeriodHead(dst []byte, p aggregators.Period, derived []int64) []byte {
	dst = append(dst, `{"interval":`...)
	dst = strconv.AppendInt(dst, p.Seconds(), 10)
	if len(derived) > 0 {
		dst = append(dst, `,"derived":[`...)
		for i, s := range derived {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, s, 10)
		}
		dst = append(dst, ']')
	}
	return dst
}

// appendBuckets writes the members of a period's object (or of one of its
// parts) that hold the buckets bs: "start" to "literals".
func appendBuckets(dst []byte, l *aggregators.Layout, bs []*aggregators.Bucket) []byte {
	dst = append(dst, `"start":[`...)
	for i, b := range bs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, b.Start, 10)
	}
	dst = append(dst, `],"count":[`...)
	for i, b := range bs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(b.Count), 10)
	}
	dst = append(dst, `],"numbers":[`...)
	firstNum, firstPresent := true, true
	scratch := presentScratch.Get().(*[]byte)
	present := (*scratch)[:0]
	defer func() { *scratch = present[:0]; presentScratch.Put(scratch) }() // grown, for the next call
	// Each node's accumulators are gathered across the buckets once, and
	// every column is written from them: the buckets' arrays are apart in
	// memory, and a node's columns took up to seven passes over them.
	var colMem [128]aggregators.Acc
	col := colMem[:0]
	for _, n := range l.Nodes {
		col = col[:0]
		seen, minEq, maxEq, nEq := false, true, true, true
		for _, b := range bs {
			a, ok := b.AccOf(n) // (absent: N is 0)
			col = append(col, a)
			if !ok {
				continue
			}
			seen = true
			minEq = minEq && math.Float64bits(a.Min) == math.Float64bits(a.Val)
			maxEq = maxEq && math.Float64bits(a.Max) == math.Float64bits(a.Min)
			nEq = nEq && a.N == b.Count
		}
		if !seen {
			continue
		}
		if n.Type != aggregators.Number {
			if !firstPresent {
				present = append(present, ',')
			}
			firstPresent = false
			present = append(present, `{"node":`...)
			present = strconv.AppendInt(present, int64(n.Index), 10)
			present = appendCounts(append(present, `,"n":`...), col)
			present = append(present, '}')
			continue
		}
		if !firstNum {
			dst = append(dst, ',')
		}
		firstNum = false
		dst = append(dst, `{"node":`...)
		dst = strconv.AppendInt(dst, int64(n.Index), 10)
		dst = appendNumbers(dst, "sum", col, fieldVal)
		if !minEq {
			dst = appendNumbers(dst, "min", col, fieldMin)
		}
		if !maxEq {
			dst = appendNumbers(dst, "max", col, fieldMax)
		}
		if !nEq {
			dst = appendCounts(append(dst, `,"n":`...), col)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"present":[`...)
	dst = append(dst, present...)
	dst = append(dst, `],"literals":[`...)
	firstLit := true
	for _, n := range l.Nodes {
		if n.Type != aggregators.Literal {
			continue
		}
		seen := false
		for _, b := range bs {
			if b.Lit(n) != nil {
				seen = true
				break
			}
		}
		if !seen {
			continue
		}
		if !firstLit {
			dst = append(dst, ',')
		}
		firstLit = false
		dst = append(dst, `{"node":`...)
		dst = strconv.AppendInt(dst, int64(n.Index), 10)
		dst = append(dst, `,"values":[`...)
		for i, b := range bs {
			if i > 0 {
				dst = append(dst, ',')
			}
			if r := b.Lit(n); r != nil {
				dst = append(dst, r...)
			} else {
				dst = append(dst, "null"...)
			}
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, ']')
}

// maxDelta bounds the whole numbers written as deltas: every one up to 2^53
// is a float64 exactly, and so is every sum of them on the way back.
const maxDelta = 1 << 53

// The fields of an accumulator that appendNumbers writes.
const (
	fieldVal = iota
	fieldMin
	fieldMax
)

func field(a *aggregators.Acc, f int) float64 {
	switch f {
	case fieldMin:
		return a.Min
	case fieldMax:
		return a.Max
	}
	return a.Val
}

// appendNumbers writes one field of a number node's accumulators across
// the buckets (col, absent ones with N 0) as ,"key":[...], absent as null;
// when every value is a whole number (byte counts, counters, timestamps),
// as ,"dkey":[...], each the difference from the value before it (the
// first from 0), which for slowly changing series is shorter and repeats
// more, so gzip packs it tighter.
func appendNumbers(dst []byte, key string, col []aggregators.Acc, f int) []byte {
	whole := true
	for i := range col {
		if a := &col[i]; a.N > 0 {
			v := field(a, f)
			if v != math.Trunc(v) || math.Abs(v) > maxDelta || (v == 0 && math.Signbit(v)) { // -0 keeps its sign as written
				whole = false
				break
			}
		}
	}
	if !whole {
		dst = append(append(append(dst, `,"`...), key...), `":[`...)
		for i := range col {
			if i > 0 {
				dst = append(dst, ',')
			}
			if a := &col[i]; a.N > 0 {
				dst = aggregators.AppendFloat(dst, field(a, f))
			} else {
				dst = append(dst, "null"...)
			}
		}
		return append(dst, ']')
	}
	dst = append(append(append(dst, `,"d`...), key...), `":[`...)
	var prev int64
	for i := range col {
		if i > 0 {
			dst = append(dst, ',')
		}
		if a := &col[i]; a.N > 0 {
			v := int64(field(a, f))
			dst = strconv.AppendInt(dst, v-prev, 10)
			prev = v
		} else {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, ']')
}

// appendCounts writes the accumulators' counts across the buckets (col),
// absent as 0.
func appendCounts(dst []byte, col []aggregators.Acc) []byte {
	dst = append(dst, '[')
	for i := range col {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(col[i].N), 10)
	}
	return append(dst, ']')
}

// presentScratch lends appendBuckets the memory it gathers the present
// column in, from call to call: allocated anew, it was 4 % of a fleet
// hub's allocation at full rings (an allocation profile, 2026-12-05).
var presentScratch = sync.Pool{New: func() any { return new([]byte) }}

// gzipWriters and entryWriters are reused: a compressor's state is most of
// a megabyte.
var (
	gzipWriters  = sync.Pool{New: func() any { return newGzipWriter(gzip.BestSpeed) }}
	entryWriters = sync.Pool{New: func() any { return newGzipWriter(gzip.HuffmanOnly) }}
)

func newGzipWriter(level int) *gzip.Writer {
	zw, _ := gzip.NewWriterLevel(io.Discard, level)
	return zw
}

// Gzip compresses a file's contents; gzip's fastest level, since
// snapshots are written far more often than read.
func Gzip(dst *bytes.Buffer, data []byte) error { return gzipWith(&gzipWriters, dst, data) }

// GzipEntry compresses a journal entry with Huffman coding alone, without
// looking for repeats: an entry of a full host (38 KB of JSON, mostly the
// digits of numbers, where repeats are few) is then encoded and compressed
// in 0.19 ms instead of 0.25 at gzip's fastest level, for about 1.5 times
// the bytes (21 KB against 14; BenchmarkJournalEntry, derived and
// derived-fastest-level).
// Entries are what the snapshotter writes most (every host, every 30 s at
// the default interval), and they live only until the whole file is
// written again, so their speed matters more than their size; the rule for
// that rewrite allows for their size (see Snapshotter.rewriteDue).
// Any gzip reader reads them (zcat).
func GzipEntry(dst *bytes.Buffer, data []byte) error { return gzipWith(&entryWriters, dst, data) }

func gzipWith(pool *sync.Pool, dst *bytes.Buffer, data []byte) error {
	zw := pool.Get().(*gzip.Writer)
	defer pool.Put(zw)
	zw.Reset(dst)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

// gunzip decompresses at most limit bytes into buf (emptied first) and
// returns them.
func gunzip(buf *bytes.Buffer, data []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, corrupt("gzip: %v", err)
	}
	switch tooBig, err := readAtMost(buf, zr, limit); {
	case err != nil:
		return nil, corrupt("gzip: %v", err)
	case tooBig:
		return nil, corrupt("over %d bytes once decompressed", limit)
	}
	return buf.Bytes(), nil
}

// docBuffers hold a file's or a journal entry's text while it is decoded.
var docBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readAtMost empties buf and reads r into it, up to limit bytes; tooBig
// says r held more.
func readAtMost(buf *bytes.Buffer, r io.Reader, limit int64) (tooBig bool, err error) {
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return false, err
	}
	return int64(buf.Len()) > limit, nil
}

var typeByName = map[string]aggregators.NodeType{"object": aggregators.Object, "array": aggregators.Array,
	"number": aggregators.Number, "literal": aggregators.Literal}

// decodeV2 reads a format 2 file's JSON. before is the layout of the state
// a journal entry follows, for an entry that leaves its nodes out (nil:
// there is none, and such an entry is corrupt).
func decodeV2(root *fastjson.Value, host, kind string, before *aggregators.Layout) (*State, error) {
	st := &State{Host: host, Kind: kind, Buckets: map[string][]*aggregators.Bucket{}}
	if root.GetBool("ringwatch", "same_nodes") {
		if before == nil || root.Get("nodes") != nil {
			return nil, corrupt("an entry on the layout of a state before it, without that state")
		}
		return decodeBody(root, st, before)
	}
	var specs []aggregators.NodeSpec
	for i, nv := range root.GetArray("nodes") {
		var sp aggregators.NodeSpec
		for _, k := range nv.GetArray("path") {
			b, err := k.StringBytes()
			if err != nil {
				return nil, corrupt("node %d: path: %v", i, err)
			}
			sp.Path = append(sp.Path, string(b))
		}
		t, ok := typeByName[string(nv.GetStringBytes("type"))]
		if !ok {
			return nil, corrupt("node %d: unknown type %q", i, nv.GetStringBytes("type"))
		}
		sp.Type, sp.Counter = t, nv.GetBool("counter")
		specs = append(specs, sp)
	}
	l, err := aggregators.BuildLayout(specs)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	return decodeBody(root, st, l)
}

// decodeBody reads a format 2 document's periods and header into st, on
// layout l.
func decodeBody(root *fastjson.Value, st *State, l *aggregators.Layout) (*State, error) {
	st.Layout = l
	periods := root.Get("periods")
	if periods == nil || periods.Type() != fastjson.TypeObject {
		return nil, corrupt(`no "periods" object`)
	}
	for _, per := range aggregators.Periods {
		pv := periods.Get(per.Name)
		if pv == nil {
			continue
		}
		bs, err := decodePeriod(pv, l)
		if err != nil {
			return nil, corrupt("period %s: %v", per.Name, err)
		}
		st.Buckets[per.Name] = bs
		if ds := pv.GetArray("derived"); len(ds) > 0 {
			if per == aggregators.Periods[0] || len(ds) > aggregators.Slots {
				return nil, corrupt("period %s: %d buckets to derive", per.Name, len(ds))
			}
			if st.Derived == nil {
				st.Derived = map[string][]int64{}
			}
			for i, d := range ds {
				s, err := d.Int64()
				if err != nil || s%per.Seconds() != 0 {
					return nil, corrupt("period %s: derived %d: not a bucket start", per.Name, i)
				}
				st.Derived[per.Name] = append(st.Derived[per.Name], s)
			}
		}
	}
	if last := root.Get("ringwatch", "last"); last != nil && last.Type() == fastjson.TypeObject {
		st.Last = last.MarshalTo(nil)
		st.LastTime = last.GetInt64("timestamp")
		st.LastSeq = string(root.GetStringBytes("ringwatch", "last_seq"))
	}
	st.Saved = root.GetInt64("ringwatch", "saved_ns")
	if st.Saved == 0 {
		st.Saved = root.GetInt64("ringwatch", "saved") * 1e9
	}
	st.Partial = root.GetBool("ringwatch", "partial")
	if !st.Partial && st.Derived != nil { // a whole file: its own periods give them back
		for i := 1; i < len(aggregators.Periods); i++ {
			derive(st, i, st.Derived[aggregators.Periods[i].Name])
		}
		st.Derived = nil
	}
	return st, nil
}

// decodePeriod reads a period's buckets: its own, then those of its parts
// in order (a whole file since format 6 writes the longer periods in
// parts; see fileWriter).
func decodePeriod(pv *fastjson.Value, l *aggregators.Layout) ([]*aggregators.Bucket, error) {
	bs, err := decodeBuckets(pv, l)
	if err != nil {
		return nil, err
	}
	for i, part := range pv.GetArray("parts") {
		if part.Type() != fastjson.TypeObject {
			return nil, fmt.Errorf("part %d: not an object", i)
		}
		more, err := decodeBuckets(part, l)
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", i, err)
		}
		bs = append(bs, more...)
	}
	return bs, nil
}

func decodeBuckets(pv *fastjson.Value, l *aggregators.Layout) ([]*aggregators.Bucket, error) {
	starts, counts := pv.GetArray("start"), pv.GetArray("count")
	if len(counts) != len(starts) {
		return nil, fmt.Errorf("%d starts and %d counts", len(starts), len(counts))
	}
	bs := make([]*aggregators.Bucket, len(starts))
	for i := range bs {
		c, err := counts[i].Uint()
		if err != nil || c > math.MaxUint32 {
			return nil, fmt.Errorf("count %d: bad", i)
		}
		s, err := starts[i].Int64()
		if err != nil {
			return nil, fmt.Errorf("start %d: bad", i)
		}
		bs[i] = aggregators.WithAcc(s, uint32(c), make([]aggregators.Acc, len(l.Nodes)), nil)
	}
	node := func(v *fastjson.Value) (int, error) {
		i := v.GetInt("node")
		if i < 0 || i >= len(l.Nodes) {
			return 0, fmt.Errorf("node %d out of range", i)
		}
		return i, nil
	}
	column := func(v *fastjson.Value, field string) ([]*fastjson.Value, error) {
		col := v.GetArray(field)
		if col != nil && len(col) != len(bs) {
			return nil, fmt.Errorf("%s has %d values for %d buckets", field, len(col), len(bs))
		}
		return col, nil
	}
	// nodeColumn reads an entry's node and its required column.
	nodeColumn := func(v *fastjson.Value, field string) (int, []*fastjson.Value, error) {
		i, err := node(v)
		if err != nil {
			return 0, nil, err
		}
		col, err := column(v, field)
		if err == nil && col == nil {
			err = fmt.Errorf("node %d: no %q column", i, field)
		}
		return i, col, err
	}
	// numbers reads a number column, written whole ("sum") or as deltas
	// ("dsum"), into dst's memory; nil when it is absent. NaN stands for a
	// bucket without it.
	numbers := func(dst []float64, v *fastjson.Value, key string) ([]float64, error) {
		col, err := column(v, key)
		if err != nil || col != nil {
			return values(dst, col, false), err
		}
		if col, err = column(v, "d"+key); err != nil || col == nil {
			return nil, err
		}
		return values(dst, col, true), nil
	}
	var sums, mins, maxs []float64 // one node's columns, their memory reused by the next
	for _, nv := range pv.GetArray("numbers") {
		i, err := node(nv)
		if err != nil {
			return nil, err
		}
		var err1, err2 error
		sums, err = numbers(sums, nv, "sum")
		if err == nil && sums == nil {
			err = fmt.Errorf("node %d: no \"sum\" column", i)
		}
		if err != nil {
			return nil, err
		}
		mins, err1 = numbers(mins, nv, "min")
		maxs, err2 = numbers(maxs, nv, "max")
		ns, err3 := column(nv, "n")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		for j, b := range bs {
			if math.IsNaN(sums[j]) {
				continue
			}
			a := &b.Acc[i]
			a.N, a.Val = b.Count, sums[j]
			if ns != nil {
				a.N = count(ns[j])
			}
			a.Min = a.Val
			if mins != nil && !math.IsNaN(mins[j]) {
				a.Min = mins[j]
			}
			a.Max = a.Min
			if maxs != nil && !math.IsNaN(maxs[j]) {
				a.Max = maxs[j]
			}
		}
	}
	for _, nv := range pv.GetArray("present") {
		i, ns, err := nodeColumn(nv, "n")
		if err != nil {
			return nil, err
		}
		for j, b := range bs {
			if n := count(ns[j]); n > 0 {
				b.Acc[i] = aggregators.Acc{N: n, Val: float64(n), Min: 1, Max: 1}
			}
		}
	}
	for _, lv := range pv.GetArray("literals") {
		i, vals, err := nodeColumn(lv, "values")
		if err != nil {
			return nil, err
		}
		// A literal mostly keeps its value from bucket to bucket (a device
		// name, a file system type): the buckets share one copy of it.
		var prev, scratch []byte
		for j, b := range bs {
			if vals[j].Type() == fastjson.TypeNull {
				continue
			}
			if scratch = vals[j].MarshalTo(scratch[:0]); prev == nil || !bytes.Equal(scratch, prev) {
				prev = bytes.Clone(scratch)
			}
			b.Lits = append(b.Lits, aggregators.Lit{Index: i, Raw: prev})
		}
	}
	return bs, nil
}

// values reads a column of numbers, NaN where one is not a number (null);
// with deltas, each whole number adds to the one before it.
func values(dst []float64, col []*fastjson.Value, deltas bool) []float64 {
	if col == nil {
		return nil
	}
	out := append(dst[:0], make([]float64, len(col))...)
	var sum int64
	scratch := make([]byte, 0, 32) // one for the column: number's own would be one per value
	for j, v := range col {
		switch {
		case v.Type() != fastjson.TypeNumber:
			out[j] = math.NaN()
		case deltas:
			d, err := v.Int64()
			if err != nil {
				var x float64
				x, scratch = numberWith(v, scratch) // a delta is whole; anything else is read as best it can be
				d = int64(x)
			}
			sum += d
			out[j] = float64(sum)
		default:
			out[j], scratch = numberWith(v, scratch)
		}
	}
	return out
}

// count reads a count column's value: a whole number, which fastjson
// reads exactly and without an allocation (anything else as best it can
// be).
func count(v *fastjson.Value) uint32 {
	if v == nil {
		return 0
	}
	if n, err := v.Uint(); err == nil {
		return uint32(n)
	}
	x, _ := numberWith(v, nil)
	return uint32(x)
}

// numberWith is number with a scratch buffer for the number's text, which
// it returns for the next call.
func numberWith(v *fastjson.Value, scratch []byte) (float64, []byte) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, scratch
	}
	scratch = v.MarshalTo(scratch[:0])
	x, _ := strconv.ParseFloat(string(scratch), 64)
	return x, scratch
}
