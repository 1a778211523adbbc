package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// Path is where host's kind is kept under dir (<data-dir>/metrics).
func Path(dir, host, kind string) string { return filepath.Join(dir, host, kind+Ext) }

// LoadFile reads one state file. A file that cannot be loaded is renamed
// aside and the error says where it went.
func LoadFile(path, host, kind string, counters []string) (*State, error) {
	d, err := OpenDir(filepath.Dir(path), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return loadFile(d, filepath.Base(path), host, aggregators.Kind{Name: kind, Counters: counters})
}

func loadFile(d *Dir, name, host string, k aggregators.Kind) (*State, error) {
	st, err := readState(d, name, host, k)
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrRefused) {
		return st, err
	}
	if !errors.Is(err, ErrCorrupt) {
		return nil, err // unreadable for another reason (permissions): leave it be
	}
	aside := name + ".corrupt-" + strconv.FormatInt(time.Now().Unix(), 10)
	if rerr := d.Rename(name, aside); rerr != nil {
		return nil, fmt.Errorf("%w (and could not set it aside: %v)", err, rerr)
	}
	return nil, &SetAsideError{Path: filepath.Join(d.Name(), name), Aside: filepath.Join(d.Name(), aside), Err: err}
}

// SetAsideError reports a corrupt file that was renamed aside.
type SetAsideError struct {
	Path, Aside string
	Err         error
}

func (e *SetAsideError) Error() string {
	return fmt.Sprintf("%s: %v; set aside as %s", e.Path, e.Err, e.Aside)
}

func (e *SetAsideError) Unwrap() error { return e.Err }

func readState(d *Dir, name, host string, k aggregators.Kind) (*State, error) {
	data, err := d.ReadFile(name, MaxFileSize)
	if err != nil {
		return nil, err
	}
	st, err := DecodeKind(data, host, k)
	if st != nil {
		st.FileBytes = len(data)
	}
	return st, err
}

// LoadAll loads every state file under dir for the given kinds (see
// LoadEach) and returns them.
func LoadAll(dir, ownHost string, kinds []aggregators.Kind, log *slog.Logger) []*State {
	var out []*State
	LoadEach(dir, ownHost, kinds, log, func(st *State) { out = append(out, st) })
	sort.Slice(out, func(i, j int) bool { return out[i].Host+"\x00"+out[i].Kind < out[j].Host+"\x00"+out[j].Kind })
	return out
}

func removeTemps(d *Dir, host string, log *slog.Logger) {
	es, _ := d.ReadDir(host)
	for _, e := range es {
		if isTemp(e.Name()) {
			if err := d.Remove(path.Join(host, e.Name())); err == nil {
				log.Info("removed temporary file left by an interrupted write", "file", filepath.Join(d.Name(), host, e.Name()))
			}
		}
	}
}

// Source is what the snapshotter reads: the pipeline's views and latest
// samples. All return immutable values, safe to encode at leisure.
type Source interface {
	// Views returns a current view of every (period, host, kind).
	Views() []*aggregators.View
	// LeanViews returns one (host, kind)'s current views, one per period
	// in aggregators.Periods' order (nil where it has none); a longer
	// period's open bucket that the period before it covers may be only
	// named (View.OpenDerived).
	LeanViews(host, kind string) []*aggregators.View
	// RangeLatest yields the newest raw sample of every (host, kind), in
	// any order.
	RangeLatest(yield func(*aggregators.Latest) bool)
}

// Ext is a state file's extension: format 2, gzip-compressed.
const Ext = ".json.gz"

// Snapshotter is the persistence actor. Every Interval, and once more when it
// is stopped, it takes the views and the last samples and writes every (host,
// kind) that changed since its last write.
type Snapshotter struct {
	Dir      string // <data-dir>/metrics
	Interval time.Duration
	Source   Source
	Log      *slog.Logger

	// First is a host written before the others (the hub's own), and
	// Workers how many series the final pass writes at once (default: the
	// CPUs Go may use).
	First   string
	Workers int

	// Lockstep gives every series a whole cycle before its first whole
	// file is written again (see leadOf): for tests of the rule itself.
	Lockstep bool

	boot int64 // the journal this run appends to (Unix nanoseconds of the first pass)

	written  map[string]writtenAs // key -> what was written, and when; owned by Run
	migrated map[string]bool      // keys whose format 1 file is gone
	dir      atomic.Pointer[Dir]  // Dir, opened at the first pass

	mu      sync.Mutex
	stats   Stats
	forgets []string             // hosts whose files go at the next pass
	seeds   map[string]writtenAs // SeedWith's, until a pass takes them
}

// writtenAs is what the last write of a series wrote (its signature), when
// (Unix nanoseconds), the closed buckets of each period that are on disk,
// how many journal entries followed its file and their bytes, the file's
// bytes, and how many nodes its layout had (a layout only grows: the same
// number is the same layout).
type writtenAs struct {
	sig          string
	at           int64
	closed       [aggregators.NumPeriods][]*aggregators.Bucket
	entries      int
	journalBytes int
	fileBytes    int
	nodes        int
	lead         int        // entries counted ahead in this cycle (leadOf)
	file         *fileIndex // where the last whole file put its parts (nil: not written by this run)
}

// Loaded names a (host, kind) loaded from disk, how many journal entries
// followed its file, and the bytes of both (State.FileBytes,
// State.JournalBytes; zero if unknown).
type Loaded struct {
	Host, Kind              string
	Entries                 int
	FileBytes, JournalBytes int
}

// SeedWith tells the snapshotter, before or while it runs, what the loaded
// state put in the source, so that the series' next write is a journal
// entry of what changed, not the whole file again: the series is on disk
// as views (aggregators.Periods order, nil where none)
// and last show it: the loader calls it for each series it restores while
// the hub serves, before any sample of the series is taken. Safe from any
// goroutine; the next pass takes it in.
func (s *Snapshotter) SeedWith(ld Loaded, views []*aggregators.View, last *aggregators.Latest) {
	key := aggregators.SeriesKey(ld.Host, ld.Kind)
	se := &series{key: key, host: ld.Host, kind: ld.Kind, views: map[string]*aggregators.View{}, last: last}
	w := writtenAs{at: time.Now().UnixNano(), entries: ld.Entries, fileBytes: ld.FileBytes, journalBytes: ld.JournalBytes}
	for i, p := range aggregators.Periods {
		if i < len(views) && views[i] != nil {
			v := views[i]
			se.views[p.Name] = v
			w.closed[i] = v.Closed
			if v.Layout != nil {
				w.nodes = max(w.nodes, len(v.Layout.Nodes))
			}
		}
	}
	w.sig = signature(se)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seeds == nil {
		s.seeds = map[string]writtenAs{}
	}
	s.seeds[key] = w
}

// takeSeeds moves the series seeded since the last pass into written: a
// pass calls it after reading the source, so that every series it read
// that was restored has its seed in. A series written meanwhile (its views
// were read before its seed came) keeps what was written.
func (s *Snapshotter) takeSeeds() {
	s.mu.Lock()
	seeds := s.seeds
	s.seeds = nil
	s.mu.Unlock()
	for key, w := range seeds {
		if _, ok := s.written[key]; !ok {
			s.written[key] = w
		}
	}
}

// Forget has the host's folder removed at the next pass (the pipeline forgot
// the host). Safe from any goroutine.
func (s *Snapshotter) Forget(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgets = append(s.forgets, host)
}

// removeForgotten deletes the folders of the hosts forgotten since the last
// pass, before the pass writes anything.
func (s *Snapshotter) removeForgotten(dir *Dir) {
	s.mu.Lock()
	hosts := s.forgets
	s.forgets = nil
	s.mu.Unlock()
	for _, host := range hosts {
		if !bus.ValidToken(host) {
			continue
		}
		for k := range s.written {
			if h, _, _ := strings.Cut(k, "\x00"); h == host {
				delete(s.written, k)
			}
		}
		if err := dir.RemoveAll(host); err != nil {
			s.Log.Error("cannot remove a forgotten host's files", "host", host, "err", err)
		}
	}
}

// Stats are the snapshotter's figures.
type Stats struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	Passes          uint64  `json:"passes"` // snapshot passes run
	Writes          uint64  `json:"writes"` // files written, and journal entries appended
	// JournalEntries counts the writes that were journal entries (what
	// changed since the file), not whole files.
	JournalEntries uint64 `json:"journal_entries"`
	Failures       uint64 `json:"failures"` // files that could not be written
	BytesWritten   uint64 `json:"bytes_written"`
	// LastDuration and LastBytes are the last pass's time and bytes.
	LastDuration float64 `json:"last_duration_seconds"`
	LastBytes    uint64  `json:"last_bytes"`
	LastError    string  `json:"last_error,omitempty"` // the last failed pass's first error
	// LastSuccess is the Unix time of the last pass that wrote everything it
	// had to; 0 before the first.
	LastSuccess int64 `json:"last_success"`
	// FailingSince is the Unix time (seconds, with a fraction) of the first
	// failed pass of the current unbroken run of failed passes; 0 when the
	// last pass succeeded.
	FailingSince float64 `json:"failing_since,omitempty"`
	// Refused counts paths refused for being symbolic links or leading
	// outside the data folder.
	Refused uint64 `json:"refused"`
	// PartsCopied counts the parts of whole files copied from the file
	// before them rather than encoded again (see fileWriter).
	PartsCopied uint64 `json:"parts_copied"`
}

// Stats reads the snapshotter's figures; safe from any goroutine.
func (s *Snapshotter) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.IntervalSeconds = s.Interval.Seconds()
	if d := s.dir.Load(); d != nil {
		st.Refused = d.Refused.Load()
	}
	return st
}

// Run writes snapshots until ctx is done, then writes the final one. The
// series are spread over the journal's cadence (JournalEvery): every second
// the series whose turn it is, if they changed, get a journal entry, or
// their whole file when it is due (see rewriteDue). No pass holds up ingest
// or the disk at once, a crash loses at most one cadence of changes, and
// the final pass has at most one cadence of changes per series to write.
func (s *Snapshotter) Run(ctx context.Context) error {
	every := s.journalEvery()
	slots := max(int64(every/time.Second), 1)
	step := min(every, time.Second)
	t := time.NewTicker(step)
	defer t.Stop()
	for tick := int64(0); ; tick++ {
		select {
		case <-t.C:
			_ = s.snapshot(func(host, kind string) bool { return slotOf(host, kind, slots) == tick%slots }, false)
		case <-ctx.Done():
			_ = s.SnapshotAll()
			if d := s.dir.Swap(nil); d != nil {
				_ = d.Close()
			}
			return nil
		}
	}
}

// journalEvery is how often each series is written: a tenth of the
// interval, at least a second (or the interval, if shorter) and at most
// thirty seconds.
func (s *Snapshotter) journalEvery() time.Duration {
	return min(max(s.Interval/10, min(s.Interval, time.Second)), 30*time.Second)
}

// baseEvery is how many journal entries a series gets at least before its
// whole file is written again: two intervals' worth.
func (s *Snapshotter) baseEvery() int {
	return max(int(2*s.Interval/s.journalEvery()), 1)
}

// maxEntries is how many journal entries a series gets at most before its
// whole file is written again: six intervals' worth.
func (s *Snapshotter) maxEntries() int { return 3 * s.baseEvery() }

// rewriteDue says whether a series' next write is its whole file again:
// once its journal holds about as much JSON as the file (so reading the
// state back costs at most about twice the file alone), after two
// intervals' worth of entries at least and six at most. Entries are
// compressed with Huffman coding alone (GzipEntry), which leaves about 1.5
// times the bytes of the file's compression for the same JSON, so the
// journal may grow to 1.5 times the file's bytes. A full host's file is
// worth 33 or 34 entries: written about every 17 minutes at the default
// interval; a young host's small file, after two intervals.
//
// A series' first cycle after its first whole file is shortened by its
// lead (leadOf): entries counted as if written, each as large as the mean
// of those written.
func (s *Snapshotter) rewriteDue(w writtenAs) bool {
	n, journal := w.entries+w.lead, w.journalBytes
	if w.lead > 0 && w.entries > 0 {
		journal += w.journalBytes * w.lead / w.entries
	}
	return n >= s.maxEntries() || (n >= s.baseEvery() && 2*journal >= 3*w.fileBytes)
}

// leadOf is how many entries a series' first cycle counts ahead: from 0 to
// two intervals' worth, by a hash of its key. Hosts that appear together
// (a fleet starting, a hub started beside it) write their first files
// together; without a lead they would write every whole file again
// together too, each cycle, thousands of files within a few passes and
// the collector's work with them. The leads spread their rewrites over two
// intervals, and the rewrites stay spread: the cycles that follow are
// whole, and about equally long for hosts alike. A series restored from
// disk keeps the count it was loaded with (SeedWith), and no lead.
func (s *Snapshotter) leadOf(key string) int {
	if s.Lockstep {
		return 0
	}
	h := uint64(14695981039346656037) // FNV-1a, 64 bits: apart from slotOf's
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return int(h % uint64(s.baseEvery()))
}

// slotOf spreads series over slots: FNV-1a of the series' key
// (aggregators.SeriesKey), hashed in its parts: every series is asked
// every second, and its key need not be built for that.
func slotOf(host, kind string, slots int64) int64 {
	h := uint32(2166136261)
	for _, part := range [...]string{host, "\x00", kind} {
		for i := 0; i < len(part); i++ {
			h ^= uint32(part[i])
			h *= 16777619
		}
	}
	return int64(h % uint32(slots))
}

type series struct {
	key, host, kind string
	views           map[string]*aggregators.View
	layout          *aggregators.Layout
	last            *aggregators.Latest
	sig             string
	full            bool // write the whole file (else a journal entry)
	sameNodes       bool // an entry on the layout of the write before it
	prev            [aggregators.NumPeriods][]*aggregators.Bucket
	file            *fileIndex // the last whole file's parts
}

// SnapshotAll writes every (host, kind) that changed, in parallel, and
// makes them durable with two syncs of the file system per chunk of
// finalChunk files (not two fsyncs per file): what a final snapshot of
// thousands of hosts needs to finish in seconds. Each chunk is committed
// before the next is written, the series never written and those written
// longest ago first, so a pass cut short by the shutdown deadline keeps
// what it wrote and leaves the least loss. It returns the first error, and
// logs one line for a pass in which any file failed.
func (s *Snapshotter) SnapshotAll() error { return s.snapshot(nil, true) }

// snapshot writes the series that due accepts (nil: all) and that changed,
// in chunks when batch (see write).
func (s *Snapshotter) snapshot(due func(host, kind string) bool, batch bool) error {
	began := time.Now()
	if s.written == nil {
		s.written, s.migrated = map[string]writtenAs{}, map[string]bool{}
	}
	if s.boot == 0 {
		s.boot = began.UnixNano()
	}
	dir := s.dir.Load()
	if dir == nil {
		d, err := OpenDir(s.Dir, s.Log)
		if err != nil {
			s.count(began, 0, 1, 0, 0, err)
			s.Log.Error("snapshot failed", "err", err)
			return err
		}
		dir = d
		s.dir.Store(d)
	}
	s.removeForgotten(dir)
	todo := s.changed(due)
	if len(todo) == 0 && !batch {
		return nil
	}
	// The final pass commits in chunks: what it has written survives even
	// if the process is killed before the pass ends (changed puts the
	// series never written, then the longest unwritten, first).
	var first error
	var writes, failures, total, journal, copied uint64
	for _, se := range todo {
		w, ok := s.written[se.key]
		se.full = !ok || s.rewriteDue(w)
		se.sameNodes = !se.full && w.nodes > 0 && se.layout != nil && len(se.layout.Nodes) == w.nodes
		se.prev, se.file = w.closed, w.file
	}
	for len(todo) > 0 {
		n := min(len(todo), finalChunk)
		if !batch {
			n = len(todo)
		}
		for _, r := range s.write(dir, todo[:n], began, batch) {
			if errors.Is(r.err, ErrRefused) {
				continue // logged once and counted by the Dir; not written, not a failure
			}
			if r.err != nil {
				failures++
				if first == nil {
					first = r.err
				}
				if w, ok := s.written[r.se.key]; ok && !r.se.full {
					// A failed append may have left a torn entry, which
					// would hide every later one: the whole file next.
					w.entries = s.maxEntries()
					s.written[r.se.key] = w
				}
				continue
			}
			writes++
			total += uint64(r.bytes)
			before, had := s.written[r.se.key]
			w := writtenAs{sig: r.se.sig, at: began.UnixNano(), entries: before.entries + 1, file: r.se.file,
				journalBytes: before.journalBytes + r.bytes, fileBytes: before.fileBytes, lead: before.lead}
			if r.se.layout != nil {
				w.nodes = len(r.se.layout.Nodes)
			}
			for i, p := range aggregators.Periods {
				if v := r.se.views[p.Name]; v != nil {
					w.closed[i] = v.Closed
				}
			}
			if r.se.full {
				w.entries, w.file, w.journalBytes, w.fileBytes, w.lead = 0, r.file, 0, r.bytes, 0
				if !had {
					w.lead = s.leadOf(r.se.key)
				}
				copied += uint64(r.copied)
				s.dropJournals(dir, r.se.host, r.se.kind)
				if !s.migrated[r.se.key] { // the format 1 file this one replaces
					s.migrated[r.se.key] = true
					_ = dir.Remove(path.Join(r.se.host, r.se.kind+".json"))
				}
			} else {
				journal++
			}
			s.written[r.se.key] = w
		}
		todo = todo[n:]
	}
	s.count(began, writes, failures, total, journal, first)
	if copied > 0 {
		s.mu.Lock()
		s.stats.PartsCopied += copied
		s.mu.Unlock()
	}
	if first != nil {
		s.Log.Error("snapshot failed", "failed", failures, "written", writes, "first_error", first)
	}
	return first
}

// writerMemory is what a writer encodes into and reads with, lent from
// pass to pass (writers): wide buckets to encode from, the JSON, its
// compressed bytes and the file before, for copying its unchanged parts. A
// whole file of a full host takes a few megabytes of them, which a writer
// allocating its own each pass (every second) made a third of a fleet
// hub's allocation while whole files were being written again.
type writerMemory struct {
	u   aggregators.Unpacker
	raw []byte
	gz  bytes.Buffer
	old []byte
}

var writers = sync.Pool{New: func() any { return new(writerMemory) }}

// finalChunk is how many files the final pass writes between two commits.
const finalChunk = 256

type writeResult struct {
	se     *series
	tmp    string
	bytes  int
	err    error
	file   *fileIndex // a whole file's parts
	copied int        // how many of them it copied from the file before
}

// write encodes and writes todo: journal entries are appended, whole files
// written to temporary names; then the file system is synced once, the
// files renamed into place, and the file system synced once more (two
// syncs per pass, not two per file: a pass of new hosts writes dozens of
// first files). batch writes in parallel.
func (s *Snapshotter) write(dir *Dir, todo []*series, began time.Time, batch bool) []writeResult {
	results := make([]writeResult, len(todo))
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if !batch {
		workers = 1 // a second's share: no need to crowd the machine
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(len(todo), 1)) {
		wg.Go(func() {
			m := writers.Get().(*writerMemory)
			defer writers.Put(m)
			gz, u := &m.gz, &m.u
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				se := todo[i]
				u.Reset()
				gz.Reset()
				r := writeResult{se: se}
				name := path.Join(se.host, se.kind+Ext)
				if se.full {
					var old []byte
					if se.file != nil {
						var err error
						if old, err = dir.ReadFileInto(name, int64(se.file.size), m.old); err == nil { // (none, or another: every part is encoded)
							m.old = old
						}
					}
					r.file, m.raw, r.copied, r.err = encodeFile(gz, m.raw, u, se.host, se.kind, se.layout, se.views, se.last, began, old, se.file)
				} else {
					lists, derived := EntryContent(se.views, &se.prev, u)
					m.raw = EncodeEntry(m.raw[:0], se.host, se.kind, se.layout, lists, derived, se.last, began, se.sameNodes)
					r.err = GzipEntry(gz, m.raw)
				}
				switch {
				case r.err != nil:
				case !se.full: // (Append makes the host's folder if it opens the journal)
					r.err = dir.Append(journalName(se.host, se.kind, s.boot), gz.Bytes())
				default:
					if r.err = dir.MkdirHost(se.host); r.err == nil {
						r.tmp, r.err = dir.WriteTemp(name, gz.Bytes())
					}
				}
				r.bytes = gz.Len()
				results[i] = r
			}
		})
	}
	wg.Wait()
	failAll := func(err error) {
		for i := range results {
			if results[i].err == nil {
				results[i].err = err
			}
		}
	}
	// Journal entries are appended without a sync each: one sync of the
	// file system makes them all durable, and the temporary files before
	// their renames.
	appended := slices.ContainsFunc(results, func(r writeResult) bool { return r.err == nil && !r.se.full })
	files := slices.ContainsFunc(results, func(r writeResult) bool { return r.tmp != "" })
	if batch || appended || files {
		if err := dir.Sync(); err != nil {
			failAll(err)
		}
	}
	if !batch && !files {
		return results
	}
	for i, r := range results {
		switch {
		case r.err == nil && r.se.full:
			results[i].err = dir.Rename(r.tmp, path.Join(r.se.host, r.se.kind+Ext))
		case r.tmp != "":
			_ = dir.Remove(r.tmp)
		}
	}
	if err := dir.Sync(); err != nil {
		failAll(err)
	}
	return results
}

// EntryContent is what a journal entry holds for views (by period name,
// taken shortest period first) after prev (each period's closed buckets as
// last written; none for a whole file): the buckets of each period not yet
// on disk, and the open ones, unpacked into u's memory. A bucket of a
// longer period that the period before it covers (View.Covers) is not
// written but named in derived, and rebuilt from the shorter period's
// buckets when the state is read: most of an entry was the open buckets of
// the four longer periods and the few buckets they closed, each as many
// numbers as a bucket of the 5m ring. The views were taken shortest period
// first (changed), so a longer one holds every sample of the shorter.
func EntryContent(views map[string]*aggregators.View, prev *[aggregators.NumPeriods][]*aggregators.Bucket, u *aggregators.Unpacker) (lists map[string][]*aggregators.Bucket, derived map[string][]int64) {
	lists = make(map[string][]*aggregators.Bucket, len(views))
	for i, p := range aggregators.Periods {
		v := views[p.Name]
		if v == nil {
			continue
		}
		if bs := v.Since(prev[i], u, coveredSkip(views, i, &derived)); len(bs) > 0 {
			lists[p.Name] = bs
		}
	}
	return lists, derived
}

// dropJournals removes a series' journals once its whole file is on disk.
func (s *Snapshotter) dropJournals(dir *Dir, host, kind string) {
	entries, err := dir.ReadDir(host)
	if err != nil {
		return
	}
	for _, name := range journals(entries, kind) {
		if err := dir.Remove(path.Join(host, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.Log.Warn("could not remove a journal replaced by its state file", "file", filepath.Join(dir.Name(), host, name), "err", err)
		}
	}
}

// changed gathers the series that due accepts and that changed since they
// were last written, the First host's first.
func (s *Snapshotter) changed(due func(host, kind string) bool) []*series {
	all := map[string]*series{}
	get := func(host, kind string) *series {
		k := aggregators.SeriesKey(host, kind)
		if all[k] == nil {
			all[k] = &series{key: k, host: host, kind: kind, views: map[string]*aggregators.View{}}
		}
		return all[k]
	}
	if due == nil {
		for _, v := range s.Source.Views() {
			get(v.Host, v.Kind).views[v.Period.Name] = v
		}
		for l := range s.Source.RangeLatest {
			get(l.Host, l.Kind).last = l
		}
	} else {
		for l := range s.Source.RangeLatest {
			if !due(l.Host, l.Kind) {
				continue
			}
			se := get(l.Host, l.Kind)
			se.last = l
			for i, v := range s.Source.LeanViews(l.Host, l.Kind) {
				if v != nil {
					se.views[aggregators.Periods[i].Name] = v
				}
			}
		}
	}
	s.takeSeeds()
	var out []*series
	for k, se := range all {
		for _, v := range se.views {
			if se.layout == nil || len(v.Layout.Nodes) > len(se.layout.Nodes) {
				se.layout = v.Layout
			}
		}
		if se.layout == nil {
			continue // a latest sample without a period yet: nothing to keep
		}
		se.sig = signature(se)
		if s.written[k].sig != se.sig {
			out = append(out, se)
		}
	}
	// The First host, then the series never written, then those written
	// longest ago: what a pass cut short leaves unwritten is what loses
	// least.
	sort.Slice(out, func(i, j int) bool {
		if fi, fj := out[i].host == s.First, out[j].host == s.First; fi != fj {
			return fi
		}
		if ai, aj := s.written[out[i].key].at, s.written[out[j].key].at; ai != aj {
			return ai < aj
		}
		return out[i].key < out[j].key
	})
	return out
}

// count records one pass.
func (s *Snapshotter) count(began time.Time, writes, failures, bytes, journal uint64, first error) {
	end := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stats
	st.Passes++
	st.Writes += writes
	st.Failures += failures
	st.BytesWritten += bytes
	st.JournalEntries += journal
	st.LastDuration, st.LastBytes = end.Sub(began).Seconds(), bytes
	if first == nil {
		st.LastSuccess, st.FailingSince, st.LastError = end.Unix(), 0, ""
		return
	}
	st.LastError = first.Error()
	if st.FailingSince == 0 {
		st.FailingSince = float64(began.UnixNano()) / 1e9
	}
}

func signature(se *series) string {
	var b strings.Builder
	for _, p := range aggregators.Periods {
		if v := se.views[p.Name]; v != nil {
			fmt.Fprintf(&b, "%d,", v.Version)
		} else {
			b.WriteString("-,")
		}
	}
	if se.last != nil {
		fmt.Fprintf(&b, "%p", se.last)
	}
	return b.String()
}

// The snapshotter is an actor (actors.Actor: Run(ctx) error); persistence
// does not import the actor runtime, so the guard is structural.
var _ interface{ Run(context.Context) error } = (*Snapshotter)(nil)
