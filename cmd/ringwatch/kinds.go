package main

import (
	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/actors/uptime"
	"github.com/ringwatch/ringwatch/aggregators"
)

// kind is one kind of sample: its aggregation side and the source that polls
// it (nil when only other hosts publish it).
type kind struct {
	agg    aggregators.Kind
	source actors.Source
}

// restorer is implemented by sources that resume from their last sample.
type restorer interface {
	Restore(last []byte) error
}

// closer is implemented by sources that hold resources.
type closer interface {
	Close()
}

// kinds is the one place where kinds are registered. A new kind adds a line
// here; the bus, the downsamplers, the snapshots and
// GET /api/v1/metrics/<kind> then serve it.
func kinds(s Settings) ([]kind, error) {
	si, err := systeminfo.New(systeminfo.Config{NetExclude: s.NetExclude, IncludeNetworkFS: s.IncludeNetworkFS})
	if err != nil {
		return nil, err
	}
	return []kind{
		{agg: systeminfo.Kind(), source: si},
		{agg: uptime.Kind()}, // no poller yet: serves uptime samples from the bus
	}, nil
}
