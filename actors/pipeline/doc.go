// Package pipeline is the hub's aggregation side as actors: one Ingest actor
// that subscribes to ringwatch.raw.*.* and decodes each sample once, and one
// Downsampler actor per period that keeps that period's rings.
//
//	bus --raw--> Ingest --Values (shared, read-only)--> 5 mailboxes --> Downsampler 5m, 15m, 1h, 1d, 1mo --agg--> bus
//
// Ingest owns the flatteners (one per host and kind) and publishes the latest
// raw sample of each (host, kind) through atomic pointers. Each Downsampler
// owns an aggregators.Rings; readers get immutable views, asking the actor
// only when a view changed. Pipeline gathers the six and offers the read
// methods the API and the snapshotter use (through their own interfaces),
// restore before start, their stop-order specs and their figures.
//
// Malformed, unknown-kind and wrong-schema messages are counted by reason and
// dropped; a full mailbox drops and counts the newest sample (see Stats).
package pipeline
