// Package api is the API actor: a Fiber app that answers REST queries from the
// downsamplers' immutable views and the ingest stage's latest samples. It
// never blocks the pipeline: every read is a lock-free load of a snapshot.
//
// Errors are JSON, {"message": "...", "error": "..."}, with a 4xx status for
// anything the client got wrong and a 5xx only for faults of the service. A
// panic in a handler is logged with its stack and answered with a generic 500.
package api
