package persistence

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir is the state folder (<data-dir>/metrics) opened as an os.Root: nothing
// is read or written outside it, whatever symbolic links it holds. Host
// folders and state files must be real folders and files; a symbolic link
// in their place is refused, and logged once. Its methods are safe for
// concurrent use.
type Dir struct {
	root *os.Root
	log  *slog.Logger

	// Refused counts refused operations.
	Refused atomic.Uint64
	tmp     atomic.Uint64

	// Journals stay open between appends (see Append), at most
	// maxAppenders of them.
	appendMu     sync.Mutex
	appenders    map[string]*os.File
	maxAppenders int
}

// maxAppenders bounds the journals a Dir keeps open: at most 4,096, and at
// most a quarter of the process's limit on open files, so that sockets
// and the other files always have room. Past it, a journal is opened and
// closed for each entry, as all were before.
func maxAppenders() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(4096, lim.Cur/4))
}

// ErrRefused is returned for a path that is a symbolic link, or that leads
// outside the folder.
var ErrRefused = errors.New("refused: a symbolic link, or a path outside the data folder")

// OpenDir creates the folder if need be and opens it.
func OpenDir(dir string, log *slog.Logger) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("persistence: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("persistence: %w", err)
	}
	return &Dir{root: r, log: log, appenders: map[string]*os.File{}, maxAppenders: maxAppenders()}, nil
}

// Close releases the folder and the journals it kept open.
func (d *Dir) Close() error {
	d.closeAppenders(func(string) bool { return true })
	return d.root.Close()
}

// Name is the folder's path.
func (d *Dir) Name() string { return d.root.Name() }

// refusedLogged holds the paths already logged as refused, whichever Dir
// refused them (the loader's or the snapshotter's): one line per path per
// process, however many passes find it again.
var refusedLogged sync.Map

// refuse counts and logs (once per path) a refused path.
func (d *Dir) refuse(name string, why error) error {
	d.Refused.Add(1)
	if _, seen := refusedLogged.LoadOrStore(path.Join(d.root.Name(), name), true); !seen {
		d.log.Error("state path refused: it is a symbolic link or leads outside the data folder", "path", path.Join(d.root.Name(), name), "err", why)
	}
	return fmt.Errorf("%s: %w", name, ErrRefused)
}

// real checks that name, if it exists, is not a symbolic link. A name that
// leads outside the folder is refused too.
func (d *Dir) real(name string) (fs.FileInfo, error) {
	fi, err := d.root.Lstat(name)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return nil, d.refuse(name, errors.New("symbolic link"))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" {
			return nil, d.refuse(name, err)
		}
	}
	return fi, err
}

// MkdirHost makes sure host's folder exists and is a real folder.
func (d *Dir) MkdirHost(host string) error {
	fi, err := d.real(host)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := d.root.Mkdir(host, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("persistence: %w", err)
		}
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return d.refuse(host, errors.New("not a folder"))
	}
	return nil
}

// WriteTemp writes data to a new temporary file beside name, without
// syncing it, for a batch that syncs once (Sync) and renames each (Rename).
func (d *Dir) WriteTemp(name string, data []byte) (tmp string, err error) {
	if _, err := d.real(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dir, base := path.Split(name)
	tmp = path.Join(dir, "."+base+tempMarker+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(d.tmp.Add(1), 10))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("persistence: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		_ = d.root.Remove(tmp)
		return "", fmt.Errorf("persistence: write %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		_ = d.root.Remove(tmp)
		return "", fmt.Errorf("persistence: close %s: %w", tmp, err)
	}
	return tmp, nil
}

// Append adds data at the end of name, creating it and its folder
// (MkdirHost) if need be, without syncing (Sync makes a batch durable). A
// crash may leave a torn end, which the journal's reader stops at.
//
// The file stays open for the next append to it (up to maxAppenders
// files), until Remove or RemoveAll removes it or Close: every host's
// journal gets an entry every cadence, and opening it again each time
// (checking the path within the folder, then opening it through each
// folder on the way) cost more than writing the entry. A kept file that
// was removed behind the hub's back (no link left) is opened anew, as it
// would have been.
func (d *Dir) Append(name string, data []byte) error {
	f, kept := d.appender(name)
	if f == nil {
		if err := d.MkdirHost(path.Dir(name)); err != nil {
			return err
		}
		if _, err := d.real(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		var err error
		if f, err = d.root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return fmt.Errorf("persistence: %w", err)
		}
		kept = d.keep(name, f)
	}
	if _, err := f.Write(data); err != nil {
		if kept {
			d.closeAppender(name)
		} else {
			_ = f.Close()
		}
		return fmt.Errorf("persistence: append %s: %w", name, err)
	}
	if !kept {
		if err := f.Close(); err != nil {
			return fmt.Errorf("persistence: close %s: %w", name, err)
		}
	}
	return nil
}

// appender is name's kept journal, if it is still linked in the folder;
// one that is not is closed and forgotten.
func (d *Dir) appender(name string) (*os.File, bool) {
	d.appendMu.Lock()
	f := d.appenders[name]
	d.appendMu.Unlock()
	if f == nil {
		return nil, false
	}
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 0 {
			return f, true
		}
	}
	d.closeAppender(name)
	return nil, false
}

// keep keeps f open as name's journal if there is room.
func (d *Dir) keep(name string, f *os.File) bool {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	if len(d.appenders) >= d.maxAppenders {
		return false
	}
	d.appenders[name] = f
	return true
}

// closeAppender closes and forgets name's kept journal, if any.
func (d *Dir) closeAppender(name string) {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	if f := d.appenders[name]; f != nil {
		_ = f.Close()
		delete(d.appenders, name)
	}
}

// closeAppenders closes and forgets the kept journals whose names drop
// accepts.
func (d *Dir) closeAppenders(drop func(name string) bool) {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	for n, f := range d.appenders {
		if drop(n) {
			_ = f.Close()
			delete(d.appenders, n)
		}
	}
}

// OpenJournals is how many journals d keeps open.
func (d *Dir) OpenJournals() int {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	return len(d.appenders)
}

// Sync flushes the whole file system the folder is on (syncfs(2)): one
// flush for a batch of files instead of one per file.
func (d *Dir) Sync() error {
	f, err := d.root.Open(".")
	if err != nil {
		return fmt.Errorf("persistence: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("persistence: syncfs: %w", err)
	}
	return nil
}

// ReadFile reads name, a real file of at most limit bytes.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	return d.ReadFileInto(name, limit, nil)
}

// ReadFileInto is ReadFile reading into buf's memory (from its start) when
// it is large enough: for a writer that reads a file of each host in turn.
func (d *Dir) ReadFileInto(name string, limit int64, buf []byte) ([]byte, error) {
	fi, err := d.real(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, d.refuse(name, errors.New("not a regular file"))
	}
	if fi.Size() > limit {
		return nil, corrupt("%d bytes is over the %d byte limit", fi.Size(), limit)
	}
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf = slices.Grow(buf[:0], int(fi.Size())+1) // one more: EOF without growing
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, err
		case len(buf) == cap(buf): // the file grew since
			buf = slices.Grow(buf, 4096)
		}
	}
}

// ReadDir lists a folder of the state folder ("." for the top).
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// Rename renames within the folder.
func (d *Dir) Rename(from, to string) error { return d.root.Rename(from, to) }

// Remove removes a file (closing it first if it is a kept journal).
func (d *Dir) Remove(name string) error {
	d.closeAppender(name)
	return d.root.Remove(name)
}

// RemoveAll removes a host's folder and what it holds; a symbolic link in
// its place is refused.
func (d *Dir) RemoveAll(name string) error {
	if _, err := d.real(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	d.closeAppenders(func(n string) bool { return strings.HasPrefix(n, name+"/") })
	return d.root.RemoveAll(name)
}
