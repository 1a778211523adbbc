package aggregators

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Kind is what the aggregation side knows about one kind of sample.
type Kind struct {
	// Name is the kind's subject token and API path, e.g. "system_info".
	Name string
	// Counters name cumulative series (dotted paths, "*" for any key); a
	// bucket reports their last value instead of their mean.
	Counters []string
	// Modes are the kind's aggregate modes by name.
	Modes map[string]Mode
	// Default is the mode used when a query with a period names none; empty
	// means the query must name one.
	Default string
	// MaxSeries bounds the layout of one (host, kind); 0 is MaxNodes.
	MaxSeries int
	// Merge, for a kind whose poll may be published in parts (a sample
	// with top-level "part" and "parts" numbers), joins the newest part of
	// each index into one sample: the latest sample the API serves.
	Merge func(parts [][]byte) ([]byte, error)
	// Empty, when set, is the latest sample the API serves for a known host
	// that has sent none of this kind yet (else null): uptime's empty
	// statuses, as GoDoxy answers with no routes.
	Empty func(now time.Time) []byte
	// Imported, when set, rewrites one entry of a GoDoxy state file before
	// it becomes a bucket (uptime marks its statuses as imported, so that
	// each is weighted by the time it stands for).
	Imported func(entry []byte) []byte
}

// Mode turns a period's entries, oldest first, into response points. It is a
// pure function. It returns an error (a client error) for a bad query.
type Mode func(entries []Entry, q Query) ([]any, error)

// Query is what a mode may read from the request.
type Query struct {
	Stat   Stat
	Values url.Values
	// Interval is the period's bucket length in seconds (0: unknown).
	Interval int64
}

// ModeNames lists k's modes, sorted, for error messages.
func (k Kind) ModeNames() string {
	names := make([]string, 0, len(k.Modes))
	for n := range k.Modes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Aggregate runs mode name over entries.
func (k Kind) Aggregate(name string, entries []Entry, q Query) ([]any, error) {
	m, ok := k.Modes[name]
	if !ok {
		if name == "" {
			return nil, fmt.Errorf("aggregate is required with a period: one of %s", k.ModeNames())
		}
		return nil, fmt.Errorf("invalid aggregate %q: want one of %s", name, k.ModeNames())
	}
	return m(entries, q)
}

// Entry is one bucket of a period as a mode sees it.
type Entry struct {
	Layout *Layout
	*Bucket
}

// Time is the bucket's start, Unix seconds.
func (e Entry) Time() int64 { return e.Start }

// Value returns the stat of the numeric series at path.
func (e Entry) Value(s Stat, path ...string) (float64, bool) {
	return e.Get(e.Layout.Lookup(path...), s)
}
