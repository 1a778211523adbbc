package persistence

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// LoadEach loads every state file under dir for the given kinds, decoding
// them on every CPU at once, and hands each to use, one at a time (use may
// keep what it needs and drop the rest: a fleet's state never sits in
// memory twice). See Loader.
func LoadEach(dir, ownHost string, kinds []aggregators.Kind, log *slog.Logger, use func(*State)) {
	l := Scan(dir, ownHost, kinds, log)
	defer l.Close()
	l.Run(context.Background(), 0, use, nil)
}

// Loader loads a state folder host by host, so that a hub can serve while
// a fleet's state loads: Scan lists the hosts at once (a directory
// listing), Run reads their files on every CPU, and a host somebody asks
// for (Prioritize) is read before the others.
//
// It logs one line per file that was set aside, refused or could not be
// read. A GoDoxy layout (dir/<kind>.json, no host folder) is imported as
// ownHost's when ownHost has no file of its own. Leftover temporary files
// are removed. Nothing outside dir is read, whatever symbolic links it
// holds.
type Loader struct {
	dirName, ownHost string
	kinds            []aggregators.Kind
	log              *slog.Logger
	d                *Dir // nil: there is nothing to load

	hosts   []string       // every host folder in name order, and ownHost
	index   map[string]int // host -> place in hosts
	claimed []atomic.Bool  // by place: taken by a worker
	next    atomic.Int64   // the next place in order

	useMu  sync.Mutex // serialises use
	prioMu sync.Mutex
	urgent []string // hosts a reader waits for, first asked first
	soon   []string // hosts whose samples wait, first asked first
}

// Scan lists the hosts under dir (removing temporary files left by an
// interrupted write); it reads no state file.
func Scan(dir, ownHost string, kinds []aggregators.Kind, log *slog.Logger) *Loader {
	l := &Loader{dirName: dir, ownHost: ownHost, kinds: kinds, log: log, index: map[string]int{}}
	defer func() {
		slices.Sort(l.hosts)
		if ownHost != "" && !slices.Contains(l.hosts, ownHost) {
			l.hosts = append(l.hosts, ownHost)
		}
		for i, h := range l.hosts {
			l.index[h] = i
		}
		l.claimed = make([]atomic.Bool, len(l.hosts))
	}()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return l
	}
	d, err := OpenDir(dir, log)
	if err != nil {
		log.Error("cannot read state folder", "dir", dir, "err", err)
		return l
	}
	entries, err := d.ReadDir(".")
	if err != nil {
		log.Error("cannot read state folder", "dir", dir, "err", err)
		_ = d.Close()
		return l
	}
	l.d = d
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			_ = d.refuse(e.Name(), errors.New("a host folder that is a symbolic link"))
			continue
		}
		if !e.IsDir() {
			continue
		}
		if !bus.ValidToken(e.Name()) {
			log.Warn("ignoring state folder that is not a host name", "dir", filepath.Join(dir, e.Name()))
			continue
		}
		removeTemps(d, e.Name(), log)
		l.hosts = append(l.hosts, e.Name())
	}
	return l
}

// Hosts lists the hosts that may have state: every host folder, and ownHost.
func (l *Loader) Hosts() []string { return slices.Clone(l.hosts) }

// Close releases the folder.
func (l *Loader) Close() {
	if l.d != nil {
		_ = l.d.Close()
	}
}

// Prioritize has host's state read before the hosts not asked for: urgent
// (a reader waits for it) before those asked for otherwise (samples wait
// for it), which come before the rest. Safe from any goroutine; a host
// already read or being read is left be.
func (l *Loader) Prioritize(host string, urgent bool) {
	i, ok := l.index[host]
	if !ok || l.claimed[i].Load() {
		return
	}
	l.prioMu.Lock()
	if urgent {
		l.urgent = append(l.urgent, host)
	} else {
		l.soon = append(l.soon, host)
	}
	l.prioMu.Unlock()
}

// take claims the next host to read: one asked for, else the next in
// order; ok is false when every host is claimed.
func (l *Loader) take() (host string, ok bool) {
	for _, list := range []*[]string{&l.urgent, &l.soon} {
		for {
			l.prioMu.Lock()
			if len(*list) == 0 {
				l.prioMu.Unlock()
				break
			}
			h := (*list)[0]
			*list = (*list)[1:]
			l.prioMu.Unlock()
			if l.claimed[l.index[h]].CompareAndSwap(false, true) {
				return h, true
			}
		}
	}
	for {
		i := int(l.next.Add(1) - 1)
		if i >= len(l.hosts) {
			return "", false
		}
		if l.claimed[i].CompareAndSwap(false, true) {
			return l.hosts[i], true
		}
	}
}

// Load reads host's state now, on the calling goroutine, unless a worker
// has claimed it; it reports whether it did.
func (l *Loader) Load(host string, use func(*State)) bool {
	i, ok := l.index[host]
	if !ok || !l.claimed[i].CompareAndSwap(false, true) {
		return false
	}
	l.loadHost(host, use)
	return true
}

// Run reads every host not yet read, on workers goroutines (0: the CPUs Go
// may use), handing each state to use one at a time and telling done
// (when set) once each host's kinds have all been handed over. It returns
// when every host is read, or soon after ctx is done.
func (l *Loader) Run(ctx context.Context, workers int, use func(*State), done func(host string)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				host, ok := l.take()
				if !ok {
					return
				}
				l.loadHost(host, use)
				if done != nil {
					done(host)
				}
			}
		})
	}
	wg.Wait()
}

// loadHost reads each kind of host: its format 2 file (.json.gz), or else
// a format 1 file left by an earlier version (.json), with their journals;
// and for ownHost without a file of a kind, GoDoxy's.
func (l *Loader) loadHost(host string, use func(*State)) {
	if l.d == nil {
		return
	}
	for _, k := range l.kinds {
		name := path.Join(host, k.Name+Ext)
		if _, err := l.d.real(name); errors.Is(err, fs.ErrNotExist) {
			name = path.Join(host, k.Name+".json")
		}
		st, found := l.read(name, host, k)
		var js bool
		st, js = applyJournals(l.d, st, host, k, l.log)
		if st != nil {
			l.use(use, st)
		} else if !found && !js && host == l.ownHost {
			l.importGoDoxy(k, use)
		}
	}
}

func (l *Loader) use(use func(*State), st *State) {
	l.useMu.Lock()
	defer l.useMu.Unlock()
	use(st)
}

// read reads one file; found is false when there is none.
func (l *Loader) read(name, host string, k aggregators.Kind) (st *State, found bool) {
	st, err := loadFile(l.d, name, host, k)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false
	case errors.Is(err, ErrRefused):
		return nil, true // logged by the Dir
	case err != nil:
		l.log.Error("state file not loaded; starting empty for it", "host", host, "kind", k.Name, "err", err)
		return nil, true
	}
	if st.Skipped > 0 {
		l.log.Warn("state file had unreadable entries; they were left out", "file", filepath.Join(l.dirName, name), "skipped", st.Skipped)
	}
	return st, true
}

// importGoDoxy imports GoDoxy's file of kind k (dir/<kind>.json) as the
// own host's.
func (l *Loader) importGoDoxy(k aggregators.Kind, use func(*State)) {
	name := k.Name + ".json"
	if data, err := l.d.ReadFile(name, MaxFileSize); err == nil && len(bytes.TrimSpace(data)) == 0 {
		// GoDoxy starts empty from an empty file; so does ringwatch.
		l.log.Info("GoDoxy state file is empty; nothing to import", "file", filepath.Join(l.dirName, name))
		return
	}
	st, _ := l.read(name, l.ownHost, k) // a file that cannot be read is logged (and set aside) there
	if st == nil {
		return
	}
	entries := 0
	for _, bs := range st.Buckets {
		entries += len(bs)
	}
	l.use(use, st)
	l.log.Info("imported GoDoxy state file", "file", filepath.Join(l.dirName, name), "host", l.ownHost, "entries", entries, "periods", len(st.Buckets))
}
