// Package api is the API actor: a Fiber app that answers REST queries and
// streams WebSockets from what the pipeline holds, and reports on the hub
// itself (/metrics, /api/v1/stats, /healthz).
//
// It reads the pipeline only through Store: the latest raw samples (an
// atomic load) and the periods' immutable views. A view that has not changed
// since it was last built is an atomic load too; a changed one is built by
// its downsampler between two samples, once however many requests want it.
// Each query's body is cached with the view it came from, so a change costs
// one computation per distinct query.
//
// Errors are JSON, {"message": "...", "error": "..."}, with a 4xx status for
// anything the client got wrong and a 5xx only for faults of the service. A
// panic in a handler is logged with its stack and answered with a generic 500.
//
// The hub's own figures come from Config.Stats, gathered from the actors
// that keep them; /api/v1/stats serves them as JSON, /metrics as Prometheus
// metrics (prometheus/client_golang), and /healthz judges them.
package api
