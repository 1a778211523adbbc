// Package persistence keeps ringwatch's state across restarts and crashes.
//
// Files: <data-dir>/metrics/<host>/<kind>.json.gz, one per (host, kind), in
// format 2 (columnar JSON, gzip-compressed; see format2.go), and beside it
// the journals of what changed since (journal.go). Format 1 files
// (<kind>.json, GoDoxy's period entries with ringwatch's additions: per
// period a "buckets" list parallel to "entries", and a top-level "ringwatch"
// object with the format version and the last raw sample) and GoDoxy's own
// files, which have neither, still load: a GoDoxy entry becomes a
// one-sample bucket at its own timestamp.
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
