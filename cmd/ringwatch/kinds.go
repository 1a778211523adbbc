package main

import (
	"log/slog"

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
	// actor, when set, runs beside the poller (the uptime monitor's checks).
	actor actors.Actor
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
	mon := uptime.NewMonitor(s.Routes, slog.Default())
	return []kind{
		{agg: systeminfo.Kind(), source: si},
		{agg: uptime.Kind(), source: mon, actor: mon},
	}, nil
}

// reloadRoutes re-reads the routes of the config file (on SIGHUP) and hands
// them to the uptime monitor; a bad file keeps the old routes.
func reloadRoutes(path string, ks []kind, log *slog.Logger) {
	if path == "" {
		log.Warn("SIGHUP: no --config file to reload routes from")
		return
	}
	routes, err := readRoutes(path)
	if err != nil {
		log.Error("SIGHUP: routes not reloaded; keeping the old ones", "err", err)
		return
	}
	for _, k := range ks {
		if m, ok := k.actor.(*uptime.Monitor); ok {
			m.Reload(routes)
			log.Info("SIGHUP: routes reloaded", "routes", len(routes))
		}
	}
}
