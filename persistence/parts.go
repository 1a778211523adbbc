package persistence

import (
	"bytes"
	"hash/crc32"
	"hash/maphash"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
)

// A whole file writes its longer periods (1h, 1d, 1mo) in parts: each part
// holds the buckets of one aligned span of partBuckets bucket starts, and
// is a gzip member of its own (a gzip file may be several members, read
// one after the other as one text: `zcat | jq` and every gzip reader take
// it so):
//
//	"1d": {"interval": 864, "derived": [...], "parts": [{"start": [...], "count": [...],
//	       "numbers": [...], "present": [...], "literals": [...]}, ..., {}]}
//
// Every part is followed by a comma, and the last by an empty part, so
// that a part's text is the same wherever it stands. The next whole file
// of the series copies the members of the parts whose buckets have not
// changed from the file before it instead of encoding and compressing them
// again: most of the 1d and 1mo rings, and about half of the 1h ring,
// every time the file is rewritten. The periods before partFrom change
// completely between two whole files, and are written as before.

// partBuckets is how many bucket starts a part spans, by period (from
// partFrom): the more often a period's buckets close, the fewer.
var partBuckets = [aggregators.NumPeriods]int64{2: 10, 3: 25, 4: 50}

// partFrom is the first period (in aggregators.Periods) written in parts.
const partFrom = 2

// fileIndex is where a whole file put its parts, so that the next one can
// copy those that did not change: kept in memory only (after a restart the
// first whole file is encoded afresh).
type fileIndex struct {
	size  int // the file's size in bytes
	nodes int // its layout's nodes: another layout, no part is copied
	parts []partRef
}

// partRef is one part's member in a file: which buckets it holds (period,
// span and their fingerprint) and where its bytes are (and their CRC, to
// tell the file changed under us).
type partRef struct {
	period int
	span   int64
	sum    uint64
	off, n int
	crc    uint32
}

// partSeed seeds the buckets' fingerprints; they live no longer than the
// process.
var partSeed = maphash.MakeSeed()

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileWriter assembles a whole file's members into out: text waits to be
// compressed with whatever follows it up to the next part.
type fileWriter struct {
	out    *bytes.Buffer
	base   int // where the file begins in out
	text   []byte
	old    []byte     // the file before, or nil
	prev   *fileIndex // where its parts are, or nil
	next   fileIndex
	copied int // parts copied from the file before
	err    error
}

// flush compresses the waiting text as one member.
func (w *fileWriter) flush() {
	if len(w.text) == 0 || w.err != nil {
		return
	}
	w.err = Gzip(w.out, w.text)
	w.text = w.text[:0]
}

// reusable finds the member of the file before that holds the part
// (period, span) with fingerprint sum, still intact.
func (w *fileWriter) reusable(period int, span int64, sum uint64) []byte {
	if w.prev == nil || w.old == nil {
		return nil
	}
	for _, r := range w.prev.parts {
		if r.period != period || r.span != span {
			continue
		}
		if r.sum != sum || r.off+r.n > len(w.old) {
			return nil
		}
		if m := w.old[r.off : r.off+r.n]; crc32.Checksum(m, castagnoli) == r.crc {
			return m
		}
		return nil
	}
	return nil
}

// part writes one part of buckets bs (originals, as the view holds them)
// as a member of its own: the file before's member when it holds the same
// buckets, else encoded (unpacked into u's memory) and compressed.
func (w *fileWriter) part(period int, span int64, bs []*aggregators.Bucket, l *aggregators.Layout, u *aggregators.Unpacker, wide []*aggregators.Bucket) []*aggregators.Bucket {
	var h maphash.Hash
	h.SetSeed(partSeed)
	sealed := true // every bucket closed and packed: the part can be copied next time
	for _, b := range bs {
		sealed = sealed && b.Fingerprint(&h)
	}
	sum := h.Sum64()
	w.flush()
	if w.err != nil {
		return wide
	}
	off := w.out.Len() - w.base
	var m []byte
	if sealed {
		m = w.reusable(period, span, sum)
	}
	if m != nil {
		w.out.Write(m)
		w.copied++
	} else {
		wide = wide[:0]
		for _, b := range bs {
			wide = append(wide, u.Unpack(b, l))
		}
		w.text = append(appendBuckets(append(w.text, '{'), l, wide), "},"...)
		w.flush()
	}
	if sealed && w.err == nil {
		m := w.out.Bytes()[w.base+off:]
		w.next.parts = append(w.next.parts, partRef{period: period, span: span, sum: sum, off: off, n: len(m), crc: crc32.Checksum(m, castagnoli)})
	}
	return wide
}

// encodeFile writes the whole file of one series at the end of out, compressed,
// copying the unchanged parts of old (the file before, written as prev
// says; nil: encode everything). raw is scratch memory for the text, and
// is returned for the next call; so is the index of the file written.
func encodeFile(out *bytes.Buffer, raw []byte, u *aggregators.Unpacker, host, kind string, l *aggregators.Layout, views map[string]*aggregators.View, last *aggregators.Latest, saved time.Time, old []byte, prev *fileIndex) (*fileIndex, []byte, int, error) {
	own, derived := fileContent(views)
	w := &fileWriter{out: out, base: out.Len(), text: appendHead(raw[:0], host, kind, l, last, saved, wholeFile)}
	if l != nil {
		w.next.nodes = len(l.Nodes)
	}
	if prev != nil && prev.nodes == w.next.nodes && prev.size == len(old) {
		w.old, w.prev = old, prev
	}
	var wide []*aggregators.Bucket
	first := true
	for i, p := range aggregators.Periods {
		bs, ds := own[i], derived[p.Name]
		if len(bs) == 0 && len(ds) == 0 {
			continue
		}
		if !first {
			w.text = append(w.text, ',')
		}
		first = false
		w.text = append(aggregators.AppendString(w.text, p.Name), ':')
		if i < partFrom {
			wide = wide[:0]
			for _, b := range bs {
				wide = append(wide, u.Unpack(b, l))
			}
			w.text = appendPeriod(w.text, p, l, wide, ds)
			continue
		}
		w.text = append(appendPeriodHead(w.text, p, ds), `,"parts":[`...)
		width := p.Seconds() * partBuckets[i]
		for len(bs) > 0 {
			span := aggregators.FloorDiv(bs[0].Start, width)
			n := 1
			for n < len(bs) && aggregators.FloorDiv(bs[n].Start, width) == span {
				n++
			}
			wide = w.part(i, span, bs[:n], l, u, wide)
			bs = bs[n:]
		}
		w.text = append(w.text, "{}]}"...)
	}
	w.text = append(w.text, "}}"...)
	raw = w.text
	w.flush()
	if w.err != nil {
		return nil, raw, 0, w.err
	}
	w.next.size = out.Len() - w.base
	idx := w.next // not &w.next: that would keep w, the file before and its own index alive
	return &idx, raw, w.copied, nil
}

// fileContent is what a whole file holds of views: each period's buckets
// as the views hold them (oldest first, the open one last), less those the
// period before it covers, whose starts are in derived (see EntryContent).
func fileContent(views map[string]*aggregators.View) (own [aggregators.NumPeriods][]*aggregators.Bucket, derived map[string][]int64) {
	for i, p := range aggregators.Periods {
		v := views[p.Name]
		if v == nil {
			continue
		}
		skip := coveredSkip(views, i, &derived)
		for _, b := range v.Closed {
			if skip == nil || !skip(b) {
				own[i] = append(own[i], b)
			}
		}
		if o := v.OpenToWrite(skip); o != nil {
			own[i] = append(own[i], o)
		}
	}
	return own, derived
}

// coveredSkip returns, for period i of views, what tells a bucket the
// period before it covers (and adds its start to derived), or nil for the
// first period or when the period before has no view.
func coveredSkip(views map[string]*aggregators.View, i int, derived *map[string][]int64) func(*aggregators.Bucket) bool {
	if i == 0 {
		return nil
	}
	fine := views[aggregators.Periods[i-1].Name]
	if fine == nil {
		return nil
	}
	p := aggregators.Periods[i]
	return func(b *aggregators.Bucket) bool {
		if !fine.Covers(b.Start, p.Seconds(), b.Count) {
			return false
		}
		if *derived == nil {
			*derived = map[string][]int64{}
		}
		(*derived)[p.Name] = append((*derived)[p.Name], b.Start)
		return true
	}
}

// FileEncoder encodes the whole files of one series one after another as
// the snapshotter writes them: each copies from the one before the parts
// that did not change.
type FileEncoder struct {
	u     aggregators.Unpacker
	raw   []byte
	index *fileIndex
	last  []byte
}

// Encode returns the series' whole file, compressed, and how many of its
// parts it copied from the file the last call returned (valid until the
// next call).
func (e *FileEncoder) Encode(host, kind string, l *aggregators.Layout, views map[string]*aggregators.View, last *aggregators.Latest, saved time.Time) ([]byte, int, error) {
	var out bytes.Buffer
	e.u.Reset()
	idx, raw, copied, err := encodeFile(&out, e.raw, &e.u, host, kind, l, views, last, saved, e.last, e.index)
	e.raw, e.index, e.last = raw, idx, out.Bytes()
	return e.last, copied, err
}
