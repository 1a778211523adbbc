// Package bus owns ringwatch's message bus: the embedded NATS server, the
// connections and subscriptions the actors use, subject names and the schema
// header. It is the only package that imports nats.go; every other package
// publishes and subscribes through a Conn.
//
// The hub runs one embedded nats-server. Its own actors connect in-process (no
// socket); with an address, the server also listens on TCP for agents on other
// hosts and for outside subscribers such as `nats sub 'ringwatch.>'`.
//
// Subjects:
//
//	ringwatch.raw.<host>.<kind>           one raw sample (JSON)
//	ringwatch.agg.<host>.<kind>.<period>  one closed bucket (JSON)
//
// Every message carries the header Ringwatch-Schema: 1. Host names are sanitised
// into a single subject token by Token; device names stay in payloads. The
// payloads are encoded by their producers (the pollers and the downsamplers);
// bus carries bytes.
//
// bus is the bottom of the import graph: it imports nothing of ringwatch's.
package bus
