package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrorWindow aggregates a poller's problems and logs them once per window: one
// line for errors and one for warnings, each listing the distinct messages with
// their counts (the first MaxDistinct; the rest are counted together). A
// problem that repeats every poll thus costs one line per window, and a flood
// of different ones (10,000 unknown hosts) one bounded line. It belongs to
// one goroutine.
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
	others int // problems past MaxDistinct distinct messages
}

// MaxDistinct bounds the distinct messages an ErrorWindow keeps per window.
const MaxDistinct = 20

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
	p.total++
	key := source + ": " + err.Error()
	if _, ok := p.counts[key]; !ok {
		if len(p.order) >= MaxDistinct {
			p.others++
			return
		}
		p.order = append(p.order, key)
	}
	p.counts[key]++
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
		if p.others > 0 {
			parts = append(parts, fmt.Sprintf("%d more of other kinds", p.others))
		}
		lvl, msg := slog.LevelWarn, "poll warnings"
		if level == 1 {
			lvl, msg = slog.LevelError, "poll errors"
		}
		w.log.Log(context.Background(), lvl, msg, "window", w.window, "distinct", len(p.order), "others", p.others, "total", p.total,
			"problems", strings.Join(parts, "; "))
		*p = problems{}
	}
}
