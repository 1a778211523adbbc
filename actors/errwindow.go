package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrorWindow aggregates a poller's problems and logs them once per window: one
// line for errors and one for warnings, each listing every distinct message with
// its count. A problem that repeats every poll thus costs one line per window.
// It belongs to one goroutine.
type ErrorWindow struct {
	log    *slog.Logger
	window time.Duration
	start  time.Time
	levels [2]problems // 0: warnings, 1: errors
}

type problems struct {
	order  []string
	counts map[string]int
	total  int
}

// NewErrorWindow reports to log every window.
func NewErrorWindow(log *slog.Logger, window time.Duration) *ErrorWindow {
	return &ErrorWindow{log: log, window: window, start: time.Now()}
}

// Warn records a problem that left the sample usable but incomplete.
func (w *ErrorWindow) Warn(source string, err error) { w.add(0, source, err) }

// Error records a problem that lost a part of the sample.
func (w *ErrorWindow) Error(source string, err error) { w.add(1, source, err) }

func (w *ErrorWindow) add(level int, source string, err error) {
	p := &w.levels[level]
	if p.counts == nil {
		p.counts = map[string]int{}
	}
	key := source + ": " + err.Error()
	if _, ok := p.counts[key]; !ok {
		p.order = append(p.order, key)
	}
	p.counts[key]++
	p.total++
}

// Tick logs and clears what was recorded if the window has elapsed at now.
func (w *ErrorWindow) Tick(now time.Time) {
	if now.Sub(w.start) < w.window {
		return
	}
	w.Flush()
	w.start = now
}

// Flush logs and clears what was recorded, whatever the time.
func (w *ErrorWindow) Flush() {
	for level := range w.levels {
		p := &w.levels[level]
		if p.total == 0 {
			continue
		}
		parts := make([]string, len(p.order))
		for i, k := range p.order {
			parts[i] = fmt.Sprintf("%s (%d times)", k, p.counts[k])
		}
		lvl, msg := slog.LevelWarn, "poll warnings"
		if level == 1 {
			lvl, msg = slog.LevelError, "poll errors"
		}
		w.log.Log(context.Background(), lvl, msg, "window", w.window, "distinct", len(p.order), "total", p.total,
			"problems", strings.Join(parts, "; "))
		*p = problems{}
	}
}
