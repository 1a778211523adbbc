package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/persistence"
)

// hub is a running `ringwatch serve`.
type hub struct {
	settings Settings
	log      *slog.Logger
	sup      *actors.Supervisor
	bus      *bus.Server
	pipeline *pipeline.Pipeline
	snap     *persistence.Snapshotter
	api      *api.Server
	pollers  []*actors.Poller
	kinds    []kind
	pprof    *http.Server // nil unless --pprof-addr

	// The saved state loads while the hub serves (see loadState).
	cancelLoad context.CancelFunc
	loadDone   chan struct{}
}

// startHub starts the bus, restores state and starts every actor.
func startHub(ctx context.Context, s Settings, ks []kind, log *slog.Logger) (_ *hub, err error) {
	h := &hub{settings: s, log: log, kinds: ks}
	secure, err := busSecurity(s, log)
	if err != nil {
		return nil, err
	}
	bo := bus.Options{Addr: s.NATSAddr, Log: log, Debug: s.LogLevel == "debug",
		Secure: secure, Identities: s.Identities, TLS: s.NATSTLS, LeafAddr: s.NATSLeafAddr}
	if err := clusterOptions(s, &bo); err != nil {
		return nil, err
	}
	h.bus, err = bus.Start(bo)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			h.bus.Shutdown()
		}
	}()
	if a := h.bus.Addr(); a != "" {
		log.Info("nats listening", "addr", a, "tls", s.NATSTLS.Cert != "", "client_certificates", s.NATSTLS.CA != "",
			"authentication", secure, "agents", countIdentities(s.Identities, false), "readers", countIdentities(s.Identities, true))
	}
	conn := func(name string) *bus.Conn {
		if err != nil {
			return nil
		}
		var c *bus.Conn
		c, err = h.bus.Connect("ringwatch-" + name)
		return c
	}
	pollConn, ingestConn, aggConn := conn("pollers"), conn("ingest"), conn("downsamplers")
	if err != nil {
		return nil, err
	}
	if s.ReplayWindow > 0 {
		// A cluster elects its JetStream leader first: allow it the time.
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		sc := bus.StreamConfig{Window: s.ReplayWindow, MaxBytes: int64(s.ReplayMaxBytes), Replicas: min(3, 1+len(s.NATSRoutes))}
		err = ingestConn.EnsureStream(sctx, sc)
		cancel()
		if err != nil {
			return nil, err
		}
		log.Info("replay stream ready", "stream", bus.ReplayStream, "window", sc.Window, "max_bytes", sc.MaxBytes, "replicas", sc.Replicas)
	}
	aggKinds := make([]aggregators.Kind, len(ks))
	for i, k := range ks {
		aggKinds[i] = k.agg
	}
	h.pipeline = pipeline.NewWith(pipeline.Options{MaxHosts: s.MaxHosts, OwnHost: s.Host, MaxSampleBytes: s.MaxSampleBytes, Retention: s.HostRetention,
		HoldBytes: s.LoadHoldBytes,
		Replay:    s.ReplayWindow > 0,
		OnForget: func(host string, lastSeen time.Time) {
			log.Info("forgot a host silent for longer than --host-retention", "host", host, "last_seen", lastSeen.UTC().Format(time.RFC3339))
			h.snap.Forget(host)
		}}, aggKinds, ingestConn, aggConn, log)

	// Samples that agents publish while the state loads wait for it.
	if err = h.pipeline.Ingest.Hold(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			h.pipeline.Ingest.Unhold()
		}
	}()
	dir := filepath.Join(s.DataDir, "metrics")
	loadStart := time.Now()
	loader := persistence.Scan(dir, s.Host, aggKinds, log)
	defer func() {
		if err != nil {
			loader.Close() // else loadState closes it
		}
	}()
	h.snap = &persistence.Snapshotter{Dir: dir, Interval: s.SnapshotInterval, Source: h.pipeline, Log: log, First: s.Host}
	var files int // counted by use, which the loader serialises
	use := func(st *persistence.State) {
		files++
		h.pipeline.Restore(st.Host, st.Kind, st.Layout, st.Buckets, st.Last, st.LastTime)
		h.pipeline.RestoreSeq(st.Host, st.LastSeq)
		h.pipeline.RestoreSaved(st.Host, st.Kind, st.Saved)
		// What is on disk needs no writing again: the series' next write
		// is a journal entry of what changed. Its samples wait until the
		// host is loaded, so this is the state as loaded.
		views, last := h.pipeline.Restored(st.Host, st.Kind)
		h.snap.SeedWith(persistence.Loaded{Host: st.Host, Kind: st.Kind, Entries: st.Journal,
			FileBytes: st.FileBytes, JournalBytes: st.JournalBytes}, views, last)
		if st.Host != s.Host || st.Last == nil {
			return
		}
		for _, k := range ks {
			if r, ok := k.source.(restorer); ok && k.agg.Name == st.Kind {
				if rerr := r.Restore(st.Last); rerr != nil {
					log.Warn("could not resume from the last sample", "kind", st.Kind, "err", rerr)
				}
			}
		}
	}
	h.pipeline.Pending(loader.Hosts(), loader.Prioritize)
	// The own host first: its pollers resume from its last samples.
	if loader.Load(s.Host, use) {
		h.pipeline.Loaded(s.Host)
	}
	h.sup = actors.NewSupervisor(log, actors.DefaultBackoff)
	h.api = api.New(api.Config{
		Addr: s.HTTPAddr, Store: h.pipeline, Bus: h.bus, OwnHost: s.Host, Version: version,
		PollInterval: s.PollInterval, Log: log, AllowedOrigins: s.AllowedOrigins, AllowedHosts: s.AllowedHosts, Token: s.APIToken,
		OwnName: s.HostName, GoDoxyNames: s.GoDoxyNames,
		Stats: h.stats, CollectorFailFor: s.collectorFailFor,
	})

	if err = h.api.Listen(); err != nil {
		return nil, err
	}
	if s.PprofAddr != "" {
		if h.pprof, err = startPprof(s.PprofAddr, log); err != nil {
			return nil, err
		}
	}
	specs := []actors.Spec{{Name: "bus", Stage: actors.StageBus, Actor: h.bus}}
	for _, k := range ks {
		if k.actor != nil {
			specs = append(specs, actors.Spec{Name: "checks/" + k.agg.Name, Stage: actors.StagePoller, Actor: k.actor})
		}
		if k.source == nil {
			continue
		}
		p := &actors.Poller{Name: k.agg.Name, Subject: bus.Raw(s.Host, k.agg.Name), Interval: s.PollInterval,
			Source: k.source, Pub: pollConn, Log: log}
		h.pollers = append(h.pollers, p)
		specs = append(specs, actors.Spec{Name: "poller/" + k.agg.Name, Stage: actors.StagePoller, Actor: p})
	}
	specs = append(specs, h.pipeline.Specs()...)
	specs = append(specs,
		actors.Spec{Name: "persistence", Stage: actors.StagePersistence, Actor: h.snap},
		actors.Spec{Name: "api", Stage: actors.StageAPI, Actor: h.api})
	// Start consumers before producers, so the first sample is not missed:
	// the shards first, serving, then everything else.
	for _, sp := range specs {
		if sp.Stage == actors.StageDownsampler {
			if err = h.sup.Start(ctx, sp); err != nil {
				return nil, err
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !h.pipeline.Running() { // a moment: the goroutines were just started
		if time.Now().After(deadline) {
			return nil, errors.New("the pipeline's shards did not start")
		}
		runtime.Gosched()
	}
	// With the replay stream, the ingest actor starts once the state has
	// loaded (loadState): it replays from the oldest state restored.
	var later []actors.Spec
	for i := len(specs) - 1; i >= 0; i-- {
		switch {
		case specs[i].Stage == actors.StageDownsampler:
			continue
		case specs[i].Stage == actors.StageIngest && s.ReplayWindow > 0:
			later = append(later, specs[i])
			continue
		}
		if err = h.sup.Start(ctx, specs[i]); err != nil {
			return nil, err
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancelLoad, h.loadDone = cancel, make(chan struct{})
	go h.loadState(lctx, ctx, loader, use, &files, loadStart, later)
	return h, nil
}

// loadState reads every host's saved state while the hub serves: a host
// that a query or a sample asks for is read first, and the query or the
// sample waits for it (Pipeline.Pending). A hub stopped meanwhile (lctx)
// gives up the load: what was not read stays on disk as it was.
func (h *hub) loadState(lctx, ctx context.Context, loader *persistence.Loader, use func(*persistence.State),
	files *int, began time.Time, later []actors.Spec) {
	defer close(h.loadDone)
	loader.Run(lctx, 0, use, h.pipeline.Loaded)
	loader.Close()
	if lctx.Err() != nil {
		h.pipeline.Abandon()
		h.pipeline.Ingest.Unhold()
		return
	}
	h.pipeline.LoadingDone()
	if *files > 0 { // use counted them: Run has returned
		h.log.Info("state loaded", "files", *files, "took", time.Since(began).Round(time.Millisecond))
	}
	for _, sp := range later {
		if err := h.sup.Start(ctx, sp); err != nil {
			h.log.Error("cannot start after loading the state", "actor", sp.Name, "err", err)
			h.pipeline.Ingest.Unhold()
			return
		}
	}
}

// stats gathers every actor's figures for the API.
func (h *hub) stats() api.Stats {
	st := api.Stats{Actors: h.sup.Statuses()}
	for _, p := range h.pollers {
		st.Pollers = append(st.Pollers, p.Stats())
	}
	pl, sn, b := h.pipeline.Stats(), h.snap.Stats(), h.bus.Stats()
	st.Pipeline, st.Snapshots, st.Bus = &pl, &sn, &b
	return st
}

// waitReady waits until the API listens.
func (h *hub) waitReady(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.api.Addr() == "" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("api did not start: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// stop runs the ordered shutdown within timeout.
func (h *hub) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h.cancelLoad()
	<-h.loadDone
	err := h.sup.Stop(ctx)
	if h.pprof != nil {
		_ = h.pprof.Close()
	}
	for _, k := range h.kinds {
		if c, ok := k.source.(closer); ok {
			c.Close()
		}
	}
	if err != nil {
		return err
	}
	if st := h.snap.Stats(); st.FailingSince != 0 {
		return fmt.Errorf("the final snapshot failed: %s", st.LastError)
	}
	return nil
}

// busSecurity decides whether --nats-addr requires authentication: it does
// whenever it is set, unless nobody is declared and --nats-insecure says
// to open it on purpose. Set and nobody declared without it, start-up
// fails with how to declare an agent.
func busSecurity(s Settings, log *slog.Logger) (bool, error) {
	if s.NATSLeafAddr != "" && s.NATSAddr == "" {
		return false, errors.New("--nats-leaf-addr needs --nats-addr")
	}
	if s.NATSAddr == "" {
		if len(s.Identities) > 0 {
			log.Warn("agents or readers are declared but --nats-addr is empty: nobody can reach the bus over TCP")
		}
		if s.NATSTLS != (bus.TLSFiles{}) {
			return false, errors.New("--nats-tls-* needs --nats-addr")
		}
		return false, nil
	}
	switch {
	case len(s.Identities) > 0:
		if s.NATSInsecure {
			log.Warn("--nats-insecure ignored: agents or readers are declared, so the bus requires authentication")
		}
		return true, nil
	case s.NATSInsecure:
		log.Warn("--nats-insecure: the bus on --nats-addr is open; anyone who reaches it can publish as any host", "addr", s.NATSAddr)
		return false, nil
	default:
		return false, fmt.Errorf("--nats-addr %s is set but no agent or reader is declared, so anyone who reaches it could publish as any host. "+
			"Declare each agent in the config file (--config) under agents:, with the entry that `ringwatch agent-key <host>` prints "+
			"(and readers under readers:, from `ringwatch reader-key <name>`); or give --nats-insecure to run an open bus on purpose", s.NATSAddr)
	}
}

func countIdentities(ids []bus.Identity, readers bool) (n int) {
	for _, id := range ids {
		if (id.Reader != "") == readers {
			n++
		}
	}
	return n
}

// reloadIdentities re-reads the agents and readers of the config file into
// a secure bus: connections of those that stay are kept, those removed or
// changed are disconnected. A config that does not hold together keeps the
// old identities.
func (h *hub) reloadIdentities() {
	path := h.settings.ConfigFile
	if path == "" || h.settings.NATSAddr == "" {
		return
	}
	ids, err := readIdentities(path)
	if err == nil && len(ids) == 0 && h.bus.Secure() {
		err = errors.New("no agent or reader left: the bus would admit nobody; remove --nats-addr to close it")
	}
	if err != nil {
		h.log.Error("SIGHUP: agents and readers not reloaded; keeping the old ones", "err", err)
		return
	}
	if !h.bus.Secure() {
		if len(ids) > 0 {
			h.log.Error("SIGHUP: agents and readers not reloaded: the bus was started open (--nats-insecure); restart to secure it")
		}
		return
	}
	if err := h.bus.SetIdentities(ids); err != nil {
		h.log.Error("SIGHUP: agents and readers not reloaded; keeping the old ones", "err", err)
		return
	}
	h.log.Info("SIGHUP: agents and readers reloaded", "agents", countIdentities(ids, false), "readers", countIdentities(ids, true))
}

// clusterOptions fills the bus's cluster and replay options from the
// settings: a cluster node needs --nats-addr, a name of its own (the
// host's), and its routes' secret from its file.
func clusterOptions(s Settings, bo *bus.Options) error {
	if s.NATSClusterAddr == "" {
		if len(s.NATSRoutes) > 0 || s.NATSClusterSecretFile != "" {
			return errors.New("--nats-routes and --nats-cluster-secret-file need --nats-cluster-addr")
		}
	} else {
		if s.NATSAddr == "" {
			return errors.New("--nats-cluster-addr needs --nats-addr: agents connect to every node")
		}
		bo.Name = "ringwatch-" + s.Host
		bo.Cluster = bus.ClusterOptions{Addr: s.NATSClusterAddr, Name: s.NATSClusterName, Routes: s.NATSRoutes}
		if s.NATSClusterSecretFile != "" {
			b, err := os.ReadFile(s.NATSClusterSecretFile)
			if err != nil {
				return fmt.Errorf("--nats-cluster-secret-file: %w", err)
			}
			if bo.Cluster.Secret = strings.TrimSpace(string(b)); bo.Cluster.Secret == "" {
				return errors.New("--nats-cluster-secret-file is empty")
			}
		}
	}
	if s.ReplayWindow > 0 {
		bo.Replay = &bus.ReplayOptions{StoreDir: filepath.Join(s.DataDir, "jetstream"), MaxBytes: int64(s.ReplayMaxBytes) + 64<<20}
	}
	return nil
}
