package persistence

import (
	"slices"

	"github.com/ringwatch/ringwatch/aggregators"
)

// Prioritized reports whether host waits among l's hosts asked for.
func Prioritized(l *Loader, host string) bool {
	l.prioMu.Lock()
	defer l.prioMu.Unlock()
	return slices.Contains(l.urgent, host) || slices.Contains(l.soon, host)
}

// FileParts is where the last whole file of (host, kind) that s wrote put
// its parts: each one's offset and length.
func FileParts(s *Snapshotter, host, kind string) [][2]int {
	w := s.written[aggregators.SeriesKey(host, kind)]
	if w.file == nil {
		return nil
	}
	var out [][2]int
	for _, r := range w.file.parts {
		out = append(out, [2]int{r.off, r.n})
	}
	return out
}

// SnapshotDue runs one of s's passes over every series that changed, as
// Run does every second (the series' views taken lean, Source.LeanViews),
// where SnapshotAll is the final pass.
func SnapshotDue(s *Snapshotter) error {
	return s.snapshot(func(string, string) bool { return true }, false)
}
