package systeminfo

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/shirou/gopsutil/v4/common"
)

// envPath resolves a gopsutil host path: the context's common.EnvMap first,
// then the environment variable, then def; parts are joined to it.
func envPath(ctx context.Context, key common.EnvKeyType, def string, parts ...string) string {
	root := ""
	if m, ok := ctx.Value(common.EnvKey).(common.EnvMap); ok {
		root = m[key]
	}
	if root == "" {
		root = os.Getenv(string(key))
	}
	if root == "" {
		root = def
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// procFile re-reads one kernel file through a descriptor it keeps open, so a
// poll costs one pread instead of open, read and close. It reopens after an
// error (a removed device, a replaced file).
type procFile struct {
	path string
	f    *os.File
	buf  []byte
}

func newProcFile(path string) *procFile { return &procFile{path: path, buf: make([]byte, 4096)} }

// Read returns the file's whole content; the slice is valid until the next Read.
func (p *procFile) Read() ([]byte, error) {
	b, err := p.read()
	if err != nil && p.f != nil { // maybe stale: try once more from a fresh open
		p.Close()
		b, err = p.read()
	}
	return b, err
}

func (p *procFile) read() ([]byte, error) {
	if p.f == nil {
		f, err := os.Open(p.path)
		if err != nil {
			return nil, err
		}
		p.f = f
	}
	n := 0
	for {
		m, err := p.f.ReadAt(p.buf[n:], int64(n))
		n += m
		if errors.Is(err, io.EOF) {
			return p.buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n == len(p.buf) {
			p.buf = append(p.buf, make([]byte, len(p.buf))...)
		}
	}
}

// Close releases the descriptor.
func (p *procFile) Close() {
	if p.f != nil {
		_ = p.f.Close()
		p.f = nil
	}
}
