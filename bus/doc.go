// Package bus owns ringwatch's message bus: the embedded NATS server, the
// connections the hub's actors use, subject names and message encoding.
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
// into a single subject token by Token; device names stay in payloads.
package bus
