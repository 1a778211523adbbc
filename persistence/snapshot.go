package persistence

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
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
func Path(dir, host, kind string) string { return filepath.Join(dir, host, kind+".json") }

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
	return DecodeLimit(data, host, k.Name, k.Counters, k.MaxSeries)
}

// LoadAll loads every state file under dir for the given kinds and logs one
// line per file that was set aside, refused or could not be read. A GoDoxy
// layout (dir/<kind>.json, no host folder) is imported as ownHost's when
// ownHost has no file of its own. Leftover temporary files are removed.
// Nothing outside dir is read, whatever symbolic links it holds.
func LoadAll(dir, ownHost string, kinds []aggregators.Kind, log *slog.Logger) []*State {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	d, err := OpenDir(dir, log)
	if err != nil {
		log.Error("cannot read state folder", "dir", dir, "err", err)
		return nil
	}
	defer d.Close()
	var out []*State
	hosts, err := d.ReadDir(".")
	if err != nil {
		log.Error("cannot read state folder", "dir", dir, "err", err)
		return nil
	}
	load := func(name, host string, k aggregators.Kind) bool {
		st, err := loadFile(d, name, host, k)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false
		case errors.Is(err, ErrRefused):
			return true // logged by the Dir
		case err != nil:
			log.Error("state file not loaded; starting empty for it", "host", host, "kind", k.Name, "err", err)
			return true
		}
		if st.Skipped > 0 {
			log.Warn("state file had unreadable entries; they were left out", "file", filepath.Join(dir, name), "skipped", st.Skipped)
		}
		out = append(out, st)
		return true
	}
	for _, h := range hosts {
		if h.Type()&fs.ModeSymlink != 0 {
			_ = d.refuse(h.Name(), errors.New("a host folder that is a symbolic link"))
			continue
		}
		if !h.IsDir() {
			continue
		}
		if !bus.ValidToken(h.Name()) {
			log.Warn("ignoring state folder that is not a host name", "dir", filepath.Join(dir, h.Name()))
			continue
		}
		removeTemps(d, h.Name(), log)
		for _, k := range kinds {
			load(path.Join(h.Name(), k.Name+".json"), h.Name(), k)
		}
	}
	for _, k := range kinds {
		if _, err := d.real(path.Join(ownHost, k.Name+".json")); err == nil {
			continue
		}
		st := len(out)
		if load(k.Name+".json", ownHost, k) && len(out) > st {
			log.Info("imported GoDoxy state file", "file", filepath.Join(dir, k.Name+".json"), "host", ownHost)
		}
	}
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
// samples. Both return immutable values, safe to encode at leisure.
type Source interface {
	// Views returns a current view of every (period, host, kind).
	Views() []*aggregators.View
	// AllLatest returns the newest raw sample of every (host, kind).
	AllLatest() []*aggregators.Latest
}

// Snapshotter is the persistence actor. Every Interval, and once more when it
// is stopped, it takes the views and the last samples and writes every (host,
// kind) that changed since its last write.
type Snapshotter struct {
	Dir      string // <data-dir>/metrics
	Interval time.Duration
	Source   Source
	Log      *slog.Logger

	written map[string]string   // key -> signature of what was written; owned by Run
	dir     atomic.Pointer[Dir] // Dir, opened at the first pass

	mu      sync.Mutex
	stats   Stats
	forgets []string // hosts whose files go at the next pass
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
	Passes          uint64  `json:"passes"`   // snapshot passes run
	Writes          uint64  `json:"writes"`   // files written
	Failures        uint64  `json:"failures"` // files that could not be written
	BytesWritten    uint64  `json:"bytes_written"`
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

// Run writes snapshots until ctx is done, then writes the final one.
func (s *Snapshotter) Run(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.SnapshotAll()
		case <-ctx.Done():
			_ = s.SnapshotAll()
			if d := s.dir.Swap(nil); d != nil {
				_ = d.Close()
			}
			return nil
		}
	}
}

type series struct {
	host, kind string
	views      map[string]*aggregators.View
	layout     *aggregators.Layout
	last       *aggregators.Latest
}

// SnapshotAll writes every (host, kind) that changed. It returns the first
// error, and logs one line for a pass in which any file failed.
func (s *Snapshotter) SnapshotAll() error {
	began := time.Now()
	if s.written == nil {
		s.written = map[string]string{}
	}
	dir := s.dir.Load()
	if dir == nil {
		d, err := OpenDir(s.Dir, s.Log)
		if err != nil {
			s.count(began, 0, 1, 0, err)
			s.Log.Error("snapshot failed", "err", err)
			return err
		}
		dir = d
		s.dir.Store(d)
	}
	s.removeForgotten(dir)
	all := map[string]*series{}
	get := func(host, kind string) *series {
		k := aggregators.SeriesKey(host, kind)
		if all[k] == nil {
			all[k] = &series{host: host, kind: kind, views: map[string]*aggregators.View{}}
		}
		return all[k]
	}
	for _, v := range s.Source.Views() {
		se := get(v.Host, v.Kind)
		se.views[v.Period.Name] = v
		if se.layout == nil || len(v.Layout.Nodes) > len(se.layout.Nodes) {
			se.layout = v.Layout
		}
	}
	for _, l := range s.Source.AllLatest() {
		get(l.Host, l.Kind).last = l
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var first error
	var writes, failures, bytes uint64
	for _, k := range keys {
		se := all[k]
		sig := signature(se)
		if s.written[k] == sig {
			continue
		}
		if se.layout == nil {
			se.layout = &aggregators.Layout{}
		}
		data := Encode(nil, se.host, se.kind, se.layout, se.views, se.last, began)
		err := dir.MkdirHost(se.host)
		if err == nil {
			err = dir.WriteFile(path.Join(se.host, se.kind+".json"), data)
		}
		if err != nil {
			failures++
			if first == nil {
				first = err
			}
			continue
		}
		writes++
		bytes += uint64(len(data))
		s.written[k] = sig
	}
	s.count(began, writes, failures, bytes, first)
	if first != nil {
		s.Log.Error("snapshot failed", "failed", failures, "written", writes, "first_error", first)
	}
	return first
}

// count records one pass.
func (s *Snapshotter) count(began time.Time, writes, failures, bytes uint64, first error) {
	end := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stats
	st.Passes++
	st.Writes += writes
	st.Failures += failures
	st.BytesWritten += bytes
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
