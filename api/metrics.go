package api

import (
	"bytes"
	"maps"
	"runtime"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/ringwatch/ringwatch/actors"
)

// metricsRegistry serves GET /metrics: the same Stats as /api/v1/stats, as
// Prometheus metrics named the way node_exporter and nats-server's exporter
// name theirs (ringwatch_ prefix, base units in the name, _total counters),
// plus the Go runtime's and the process's standard metrics.
type metricsRegistry struct {
	reg *prometheus.Registry
}

func newMetricsRegistry(s *Server) *metricsRegistry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		&statsCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &metricsRegistry{reg: reg}
}

// metricsText serves GET /metrics: every metric in the text exposition format.
func (s *Server) metricsText(c *fiber.Ctx) error {
	mfs, err := s.prom.reg.Gather()
	if err != nil {
		return err
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderContentType, string(format))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(buf.Bytes())
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ringwatch_"+name, help, labels, nil)
}

var (
	dBuildInfo = desc("build_info", "Always 1; the labels say which build runs.", "version", "goversion")
	dHealthy   = desc("healthy", "1 when /healthz answers 200, else 0.")

	dActorUp       = desc("actor_up", "1 when the actor is running, else 0.", "actor")
	dActorRestarts = desc("actor_restarts_total", "Times the supervisor restarted the actor after a failure.", "actor")

	dPollerDuration = desc("poller_duration_seconds", "How long the kind's last poll took.", "kind")
	dPollerPolls    = desc("poller_polls_total", "Polls of the kind.", "kind")
	dPollerErrors   = desc("poller_errors_total", "Polls of the kind that published no sample.", "kind")
	dPollerPubErrs  = desc("poller_publish_errors_total", "Samples of the kind the bus refused.", "kind")

	dCollectorDuration = desc("collector_duration_seconds", "How long the collector took in the last poll.", "kind", "collector")
	dCollectorSuccess  = desc("collector_success", "1 when the collector's last poll succeeded, else 0.", "kind", "collector")
	dCollectorPolls    = desc("collector_polls_total", "Polls the collector ran in.", "kind", "collector")
	dCollectorErrors   = desc("collector_errors_total", "Polls in which the collector failed and its part of the sample was lost.", "kind", "collector")

	dIngestReceived = desc("ingest_received_total", "Raw messages the ingest actor handled.")
	dReplayed       = desc("replay_samples_total", "Samples taken from the replay stream at start.")
	dReplaySkipped  = desc("replay_skipped_total", "Replayed samples the restored state already held.")
	dReplaying      = desc("replaying", "1 while the hub catches up from the replay stream.")
	dIngestDropped  = desc("ingest_dropped_total", "Raw messages dropped before any period, by reason.", "reason")
	dLeavesDropped  = desc("ingest_leaves_dropped_total", "Values left out of samples for a kind's series limit or a type conflict.")
	dLongLiterals   = desc("ingest_long_strings_total", "String values left out of buckets for their length (they stay in the latest sample).")
	dHosts          = desc("hosts", "Hosts the hub keeps.")
	dHostsLoading   = desc("hosts_loading", "Hosts whose saved state is still being read at start.")
	dHostsMax       = desc("hosts_max", "The most hosts the hub keeps (--max-hosts).")
	dHostsForgotten = desc("hosts_forgotten_total", "Hosts forgotten after being silent for --host-retention.")

	dPeriodProcessed = desc("downsampler_processed_total", "Samples the period's downsampler took from its mailbox.", "period")
	dPeriodDropped   = desc("downsampler_dropped_total", "Samples the period's downsampler dropped, by reason.", "period", "reason")
	dPeriodPublished = desc("downsampler_published_total", "Closed buckets the period's downsampler published.", "period")
	dPeriodPubErrs   = desc("downsampler_publish_errors_total", "Closed buckets the bus refused.", "period")
	dPeriodLatency   = desc("downsampler_latency_seconds", "From the publisher's send time (Ringwatch-Sent header) to the sample's being in the period's ring.", "period")

	dMailboxDepth    = desc("mailbox_depth", "Messages waiting in the mailbox.", "mailbox")
	dMailboxCapacity = desc("mailbox_capacity", "The most messages the mailbox holds.", "mailbox")
	dMailboxDropped  = desc("mailbox_dropped_total", "Messages dropped because the mailbox was full.", "mailbox")

	dSnapPasses      = desc("snapshot_passes_total", "Snapshot passes run.")
	dSnapWrites      = desc("snapshot_writes_total", "State files written, and journal entries appended.")
	dSnapJournal     = desc("snapshot_journal_entries_total", "Journal entries appended (what changed since a state file), counted in snapshot_writes_total too.")
	dSnapFailures    = desc("snapshot_failures_total", "State files that could not be written.")
	dSnapBytes       = desc("snapshot_written_bytes_total", "Bytes of state files written.")
	dSnapDuration    = desc("snapshot_duration_seconds", "How long the last snapshot pass took.")
	dSnapLastBytes   = desc("snapshot_last_bytes", "Bytes the last snapshot pass wrote.")
	dSnapLastSuccess = desc("snapshot_last_success_timestamp_seconds", "Unix time of the last snapshot pass that wrote every file it had to; 0 before the first.")
	dSnapRefused     = desc("snapshot_refused_total", "State paths refused for being symbolic links or leading outside the data folder.")
	dSnapCopied      = desc("snapshot_parts_copied_total", "Parts of whole state files copied from the file before them, not encoded again.")

	dWSClients = desc("websocket_clients", "Open WebSockets.")
	dWSClosed  = desc("websocket_closed_total", "WebSockets the hub closed, by reason: slow (did not read), silent (sent nothing, not even a pong).", "reason")

	dBusConns   = desc("bus_connections", "Clients connected to the embedded NATS server.")
	dBusSlow    = desc("bus_slow_consumers_total", "Times the NATS server found a client too slow to read.")
	dBusMsgsIn  = desc("bus_messages_received_total", "Messages the NATS server received.")
	dBusMsgsOut = desc("bus_messages_sent_total", "Messages the NATS server delivered.")
)

// statsCollector turns Stats into metrics at every scrape.
type statsCollector struct{ s *Server }

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.stats(time.Now())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	histogram := func(d *prometheus.Desc, h actors.HistogramStats, labels ...string) {
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		for _, c := range h.Counts[len(h.Bounds):] { // above every bound
			cum += c
		}
		ch <- prometheus.MustNewConstHistogram(d, cum, h.SumSeconds, buckets, labels...)
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	version := c.s.cfg.Version
	if version == "" {
		version = "dev"
	}
	gauge(dBuildInfo, 1, version, runtime.Version())
	gauge(dHealthy, boolean(len(st.Problems) == 0))
	for _, a := range st.Actors {
		gauge(dActorUp, boolean(a.State == actors.StateRunning), a.Name)
		counter(dActorRestarts, uint64(max(a.Restarts, 0)), a.Name)
	}
	for _, p := range st.Pollers {
		gauge(dPollerDuration, p.LastDuration, p.Kind)
		counter(dPollerPolls, p.Polls, p.Kind)
		counter(dPollerErrors, p.Errors, p.Kind)
		counter(dPollerPubErrs, p.PublishErrors, p.Kind)
		for _, col := range p.Collectors {
			gauge(dCollectorDuration, col.LastDuration, p.Kind, col.Name)
			gauge(dCollectorSuccess, boolean(col.Polls > 0 && col.LastError == ""), p.Kind, col.Name)
			counter(dCollectorPolls, col.Polls, p.Kind, col.Name)
			counter(dCollectorErrors, col.Errors, p.Kind, col.Name)
		}
	}
	if pl := st.Pipeline; pl != nil {
		counter(dIngestReceived, pl.Received)
		counter(dReplayed, pl.Replayed)
		counter(dReplaySkipped, pl.ReplaySkipped)
		gauge(dReplaying, map[bool]float64{true: 1}[pl.Replaying])
		counter(dLeavesDropped, pl.LeavesDropped)
		counter(dLongLiterals, pl.LongLiterals)
		gauge(dHosts, float64(pl.Hosts))
		gauge(dHostsLoading, float64(pl.HostsLoading))
		gauge(dHostsMax, float64(pl.MaxHosts))
		counter(dHostsForgotten, pl.Forgotten)
		for _, reason := range sortedKeys(pl.Dropped) {
			counter(dIngestDropped, pl.Dropped[reason], reason)
		}
		for _, per := range pl.Periods {
			counter(dPeriodProcessed, per.Processed, per.Period)
			for _, reason := range sortedKeys(per.Dropped) {
				counter(dPeriodDropped, per.Dropped[reason], per.Period, reason)
			}
			counter(dPeriodPublished, per.Published, per.Period)
			counter(dPeriodPubErrs, per.PublishErrors, per.Period)
			histogram(dPeriodLatency, per.Latency, per.Period)
		}
		for _, mb := range pl.Mailboxes {
			gauge(dMailboxDepth, float64(mb.Depth), mb.Name)
			gauge(dMailboxCapacity, float64(mb.Capacity), mb.Name)
			counter(dMailboxDropped, mb.Dropped, mb.Name)
		}
	}
	if sn := st.Snapshots; sn != nil {
		counter(dSnapPasses, sn.Passes)
		counter(dSnapWrites, sn.Writes)
		counter(dSnapJournal, sn.JournalEntries)
		counter(dSnapFailures, sn.Failures)
		counter(dSnapBytes, sn.BytesWritten)
		gauge(dSnapDuration, sn.LastDuration)
		gauge(dSnapLastBytes, float64(sn.LastBytes))
		gauge(dSnapLastSuccess, float64(sn.LastSuccess))
		counter(dSnapRefused, sn.Refused)
		counter(dSnapCopied, sn.PartsCopied)
	}
	gauge(dWSClients, float64(st.WebSockets.Clients))
	counter(dWSClosed, st.WebSockets.ClosedSlow, "slow")
	counter(dWSClosed, st.WebSockets.ClosedSilent, "silent")
	if b := st.Bus; b != nil {
		gauge(dBusConns, float64(b.Connections))
		counter(dBusSlow, b.SlowConsumers)
		counter(dBusMsgsIn, b.MessagesIn)
		counter(dBusMsgsOut, b.MessagesOut)
	}
}

func sortedKeys(m map[string]uint64) []string { return slices.Sorted(maps.Keys(m)) }

var _ prometheus.Collector = (*statsCollector)(nil)
