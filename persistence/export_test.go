package persistence

import "slices"

// Prioritized reports whether host waits among l's hosts asked for.
func Prioritized(l *Loader, host string) bool {
	l.prioMu.Lock()
	defer l.prioMu.Unlock()
	return slices.Contains(l.urgent, host) || slices.Contains(l.soon, host)
}
