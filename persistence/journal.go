package persistence

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/ringwatch/ringwatch/aggregators"
)

// The journal. Between two writes of a (host, kind)'s whole state file,
// what changed is appended to <host>/<kind>.journal-<boot>.json.gz: one
// gzip member per entry, each a partial format 2 document (the buckets
// closed or corrected since the previous write, the open buckets and the
// last sample; "partial": true). `zcat | jq` reads the entries one after
// the other. Writing the whole file again removes the journal.
//
// Each run of the hub appends to a journal of its own (boot is its start
// time), so an entry torn by a crash ends only that run's journal; the
// loader applies the entries of every journal newer than the file, in
// order, and stops at the first unreadable one of each.

const journalMarker = ".journal-"

// journalName is the journal that the run started at boot appends to.
func journalName(host, kind string, boot int64) string {
	return path.Join(host, kind+journalMarker+strconv.FormatInt(boot, 10)+Ext)
}

// journalBoot parses a journal's file name for kind: its run's boot time.
func journalBoot(name, kind string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, kind+journalMarker)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, Ext)
	if !ok {
		return 0, false
	}
	boot, err := strconv.ParseInt(rest, 10, 64)
	return boot, err == nil
}

// journals lists the journals of kind in a host folder, oldest run first.
func journals(entries []fs.DirEntry, kind string) []string {
	type j struct {
		name string
		boot int64
	}
	var js []j
	for _, e := range entries {
		if boot, ok := journalBoot(e.Name(), kind); ok && e.Type().IsRegular() {
			js = append(js, j{e.Name(), boot})
		}
	}
	slices.SortFunc(js, func(a, b j) int { return cmp.Compare(a.boot, b.boot) })
	out := make([]string, len(js))
	for i := range js {
		out[i] = js[i].name
	}
	return out
}

// readEntries decodes a journal's entries until the first unreadable one
// and hands each to use, which returns the layout the next one follows (an
// entry may leave its nodes out: see EncodeEntry); before is the
// layout the first one follows (nil: none). torn says whether an entry was
// unreadable (a crash while appending).
func readEntries(data []byte, host string, k aggregators.Kind, before *aggregators.Layout, use func(*State) *aggregators.Layout) (n int, torn error) {
	br := bytes.NewReader(data)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return 0, err
	}
	// One buffer for every entry: what an entry decodes to keeps copies,
	// never the text.
	doc := docBuffers.Get().(*bytes.Buffer)
	defer docBuffers.Put(doc)
	for {
		zr.Multistream(false)
		switch tooBig, err := readAtMost(doc, zr, MaxDecompressed); {
		case err != nil:
			return n, err
		case tooBig:
			return n, fmt.Errorf("an entry over %d bytes", MaxDecompressed)
		}
		st, err := decodeKindAfter(doc.Bytes(), host, k, before)
		if err != nil {
			return n, err
		}
		if !st.Partial {
			return n, errors.New("an entry that is not partial")
		}
		n++
		before = use(st)
		if err := zr.Reset(br); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// apply merges a journal entry e into st (which may be nil: no file), and
// returns st. e's nodes missing from st's layout are added after st's, so
// that st's buckets keep their indices; e's buckets are re-indexed into the
// merged layout and replace st's buckets of the same start. Then, period by
// period, the buckets e names as derived are rebuilt from the period
// before, which is complete by then.
func apply(st, e *State) *State {
	if st == nil {
		st = &State{Host: e.Host, Kind: e.Kind, Layout: e.Layout, Buckets: map[string][]*aggregators.Bucket{}}
	}
	remap, layout := unite(st.Layout, e.Layout)
	st.Layout = layout
	for i, per := range aggregators.Periods {
		sortByStart(st.Buckets[per.Name])
		for _, b := range e.Buckets[per.Name] {
			put(st, per.Name, reindex(b, remap, len(layout.Nodes)))
		}
		if i > 0 {
			derive(st, i, e.Derived[per.Name])
		}
	}
	if e.Last != nil && e.LastTime >= st.LastTime {
		st.Last, st.LastTime, st.LastSeq = e.Last, e.LastTime, e.LastSeq
	}
	st.Saved = e.Saved
	st.Journal++
	return st
}

// derive rebuilds st's buckets of period i that start at starts from its
// buckets of the period before.
func derive(st *State, i int, starts []int64) {
	per, fine := aggregators.Periods[i], st.Buckets[aggregators.Periods[i-1].Name]
	sortByStart(fine)
	sortByStart(st.Buckets[per.Name])
	for _, start := range starts {
		if b := aggregators.Derive(fine, start, per.Seconds(), st.Layout); b != nil {
			put(st, per.Name, b)
		}
	}
}

func sortByStart(bs []*aggregators.Bucket) {
	byStart := func(a, b *aggregators.Bucket) int { return cmp.Compare(a.Start, b.Start) }
	if !slices.IsSortedFunc(bs, byStart) {
		slices.SortStableFunc(bs, byStart)
	}
}

// put places b in st's buckets of period name, in order of start, over the
// bucket of the same start.
func put(st *State, name string, b *aggregators.Bucket) {
	bs := st.Buckets[name]
	i, found := slices.BinarySearchFunc(bs, b.Start, func(x *aggregators.Bucket, s int64) int { return cmp.Compare(x.Start, s) })
	if found {
		bs[i] = b
		return
	}
	st.Buckets[name] = slices.Insert(bs, i, b)
}

// unite returns a layout with a's nodes at their indices, then b's nodes
// that a lacks, and where each of b's nodes went (-1: dropped, for a type
// conflict).
func unite(a, b *aggregators.Layout) (remap []int, united *aggregators.Layout) {
	key := func(p []string) string { return strings.Join(p, "\x00") }
	at := make(map[string]int, len(a.Nodes))
	specs := make([]aggregators.NodeSpec, 0, len(a.Nodes))
	for _, n := range a.Nodes {
		at[key(n.Path)] = n.Index
		specs = append(specs, aggregators.NodeSpec{Path: n.Path, Type: n.Type, Counter: n.Counter})
	}
	remap = make([]int, len(b.Nodes))
	grew := false
	for i, n := range b.Nodes {
		j, ok := at[key(n.Path)]
		switch {
		case !ok:
			j = len(specs)
			at[key(n.Path)] = j
			specs = append(specs, aggregators.NodeSpec{Path: n.Path, Type: n.Type, Counter: n.Counter})
			grew = true
		case specs[j].Type != n.Type:
			j = -1
		}
		remap[i] = j
	}
	if !grew {
		return remap, a
	}
	united, err := aggregators.BuildLayout(specs)
	if err != nil { // cannot happen: a's and b's parents come before their children
		return remap, a
	}
	return remap, united
}

// reindex moves a bucket's accumulators and literals to the indices remap
// gives them.
func reindex(b *aggregators.Bucket, remap []int, n int) *aggregators.Bucket {
	identity := len(b.Acc) <= len(remap)
	for i := range b.Acc {
		if identity && remap[i] != i {
			identity = false
		}
	}
	for _, l := range b.Lits {
		if l.Index >= len(remap) || remap[l.Index] != l.Index {
			identity = false
		}
	}
	if identity {
		return b
	}
	acc := make([]aggregators.Acc, n)
	for i, a := range b.Acc {
		if i < len(remap) && remap[i] >= 0 {
			acc[remap[i]] = a
		}
	}
	var lits []aggregators.Lit
	for _, l := range b.Lits {
		if l.Index < len(remap) && remap[l.Index] >= 0 {
			lits = append(lits, aggregators.Lit{Index: remap[l.Index], Raw: l.Raw})
		}
	}
	slices.SortFunc(lits, func(a, b aggregators.Lit) int { return a.Index - b.Index })
	return aggregators.WithAcc(b.Start, b.Count, acc, lits)
}

// applyJournals applies the journals of a (host, kind) newer than st (nil:
// no file) and returns the result; found says whether there were any.
func applyJournals(d *Dir, st *State, host string, k aggregators.Kind, log *slog.Logger) (_ *State, found bool) {
	entries, err := d.ReadDir(host)
	if err != nil {
		return st, false
	}
	read := 0
	for _, name := range journals(entries, k.Name) {
		found = true
		data, err := d.ReadFile(path.Join(host, name), MaxFileSize)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				log.Error("journal not read", "file", filepath.Join(d.Name(), host, name), "err", err)
			}
			continue
		}
		read += len(data)
		var before *aggregators.Layout
		if st != nil {
			before = st.Layout
		}
		n, torn := readEntries(data, host, k, before, func(e *State) *aggregators.Layout {
			if st == nil || e.Saved > st.Saved {
				st = apply(st, e)
			}
			return st.Layout
		})
		if torn != nil {
			log.Warn("journal ends with an unreadable entry (a write cut short); the entries before it were used",
				"file", filepath.Join(d.Name(), host, name), "entries", n, "err", torn)
		}
	}
	if st != nil {
		st.JournalBytes += read
	}
	return st, found
}
