// Package pipeline is the hub's aggregation side as actors: one Ingest actor
// that takes every raw sample off the bus and routes it by host, and one
// Shard actor per core that owns a share of the hosts.
//
//	bus --raw--> Ingest --(hash of the host)--> Shard 0 .. N-1 --agg (when subscribed)--> bus
//	               checks schema, subject,        decode once, keep the latest,
//	               size, --max-hosts               add to the 5m, 15m, 1h, 1d, 1mo rings
//
// Ingest checks what needs no decoding (schema header, subject, host token,
// kind, --max-sample-bytes, --max-hosts) and forgets hosts silent for longer
// than the retention. Each Shard owns its hosts' flatteners and rings in all
// five periods, decodes each sample once and adds it to the five periods on
// its own goroutine, so the hub uses every core. Readers get immutable
// views, asking the shard only when a view changed. Pipeline gathers the
// actors and offers the read methods the API and the snapshotter use
// (through their own interfaces), restore before start, their stop-order
// specs and their figures.
//
// A message that fails a check is counted by reason and dropped; a full
// mailbox drops and counts the newest sample (see Stats).
package pipeline
