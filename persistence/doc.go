// Package persistence keeps ringwatch's state across restarts and crashes.
//
// Files: <data-dir>/metrics/<host>/<kind>.json, one per (host, kind). The
// period entries keep GoDoxy's shape,
//
//	{"entries": {"5m": {"entries": [<sample>...], "interval": 3000000000}, ...}}
//
// where each entry is a bucket's mean in the kind's own sample shape (its
// "timestamp" is the bucket start). ringwatch's additions sit beside them: per
// period a "buckets" list parallel to "entries" ({"start", "count", "min",
// "max"}), and a top-level "ringwatch" object with the format version and the
// last raw sample, so that the first rates after a restart are real. A GoDoxy
// file, which has neither, loads too: each entry becomes a one-sample bucket
// at its own timestamp.
//
// Loading repairs what it can: unknown period keys are ignored, intervals are
// ringwatch's whatever the file says, more than 100 buckets keeps the newest
// 100, and entries in the same bucket are merged. A file that cannot be read
// (empty, truncated, garbage, over MaxFileSize) is renamed aside to
// <name>.corrupt-<unix time>, reported in one log line, and that host starts
// empty; the other files still load.
//
// Writes are atomic (WriteFile): a temporary file in the same folder, fsync,
// rename, fsync of the folder. A crash at any moment leaves either the old
// file or the new one.
//
// The Snapshotter actor reads the pipeline through Source (its views and
// latest samples) and writes every (host, kind) that changed, every interval
// and once more when it stops, which the supervisor does after the
// downsamplers have drained. It counts passes, files, bytes and failures
// (Stats); a pass in which any file failed is one log line, whatever the
// number of files.
package persistence
