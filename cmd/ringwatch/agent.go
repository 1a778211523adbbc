package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/persistence"
)

// agentState keeps an agent's last published sample of each kind on disk, so
// that after a restart its first rates cover the real gap, as the hub's do.
// Files: <data-dir>/agent/<host>/<kind>.last.json, written atomically.
type agentState struct {
	dir string
	pub actors.Publisher

	mu   sync.Mutex
	last map[string][]byte // kind -> sample
	kind map[string]string // subject -> kind
}

func newAgentState(dataDir, host string, pub actors.Publisher) *agentState {
	return &agentState{dir: filepath.Join(dataDir, "agent", host), pub: pub,
		last: map[string][]byte{}, kind: map[string]string{}}
}

func (a *agentState) path(kind string) string { return filepath.Join(a.dir, kind+".last.json") }

// publisher returns the Publisher a kind's poller uses: it publishes and
// remembers the sample.
func (a *agentState) publisher(subject, kind string) actors.Publisher {
	a.mu.Lock()
	a.kind[subject] = kind
	a.mu.Unlock()
	return a
}

// Publish implements actors.Publisher.
func (a *agentState) Publish(subject string, data []byte) error {
	a.mu.Lock()
	if k, ok := a.kind[subject]; ok {
		a.last[k] = data
	}
	a.mu.Unlock()
	return a.pub.Publish(subject, data)
}

// Flush passes through to the bus connection.
func (a *agentState) Flush() error {
	if f, ok := a.pub.(actors.Flusher); ok {
		return f.Flush()
	}
	return nil
}

// restore hands each kind's saved sample to its source.
func (a *agentState) restore(ks []kind, log *slog.Logger) {
	for _, k := range ks {
		r, ok := k.source.(restorer)
		if !ok {
			continue
		}
		data, err := os.ReadFile(a.path(k.agg.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = r.Restore(data)
		}
		if err != nil {
			log.Warn("agent: could not resume from the last sample", "kind", k.agg.Name, "err", err)
		}
	}
}

// save writes every kind's last sample.
func (a *agentState) save(log *slog.Logger) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.last) == 0 {
		return
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		log.Error("agent: cannot save state", "err", err)
		return
	}
	for k, data := range a.last {
		if err := persistence.WriteFile(a.path(k), data, 0o644); err != nil {
			log.Error("agent: cannot save state", "kind", k, "err", err)
		}
	}
}

var _ actors.Publisher = (*agentState)(nil)
