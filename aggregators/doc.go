// Package aggregators is ringwatch's storage model and the contract every
// kind of sample implements. It has no goroutines and imports nothing of
// ringwatch's; the actors that drive it live in actors/pipeline.
//
// # The kind contract
//
// A Kind names a kind of sample, its cumulative counters (a bucket keeps
// their last value instead of the mean) and its aggregate Modes: pure
// functions from a period's Entries to response points. A kind's package
// (actors/systeminfo, actors/uptime) implements them; adding a kind touches
// its own folder and one registration line in cmd/ringwatch/kinds.go.
//
// # Samples
//
// A sample is any JSON object with a top-level "timestamp" (Unix seconds).
// A Flattener (one per host and kind) scans it once, strictly, against a
// Layout: the tree of every key ever seen, each node with a stable index. The
// result, Values, is a vector of numbers by index (NaN when absent) plus the
// few string and boolean values. Layouts only grow, by copy-on-write, and are
// capped, so a publisher with ever-changing keys cannot grow the hub without
// end. AppendSample writes a bucket back in the sample's own shape; the
// encoders follow encoding/json's number and string forms.
//
// # Periods, rings and buckets
//
// The five Periods (5m, 15m, 1h, 1d, 1mo) each keep Slots (100) buckets of
// their interval, aligned to the wall clock. A Bucket holds, per numeric
// node, the count, mean (or last value), minimum and maximum of the samples
// in it. A Ring places a sample's bucket by arithmetic; Rings holds one ring
// per (host, kind) for a period and turns them into immutable Views: closed
// buckets are shared between views, and only the open one is copied.
//
// Rings belongs to one goroutine (its downsampler); Cached and Has are the
// only methods other goroutines may call.
package aggregators
