// Command ringwatch is a system-metrics and uptime service: `ringwatch serve`
// runs the hub, `ringwatch agent --bus URL` runs pollers that publish to a
// remote hub, `ringwatch version` prints the version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "serve", "agent":
	case "loadgen":
		c, err := parseLoadgen(args, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "ringwatch: %v\n", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := runLoadgen(ctx, c, stdout); err != nil {
			fmt.Fprintf(stderr, "ringwatch: %v\n", err)
			return 1
		}
		return 0
	case "agent-key", "reader-key", "site-key":
		return runKey(cmd, args, stdout, stderr)
	case "hash-password":
		return runHashPassword(os.Stdin, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: ringwatch [serve|agent|loadgen|agent-key|reader-key|site-key|hash-password|version] [flags]; ringwatch serve -h lists the flags")
		return 0
	default:
		fmt.Fprintf(stderr, "ringwatch: unknown command %q (want serve, agent, loadgen, agent-key, reader-key, site-key, hash-password or version)\n", cmd)
		return 2
	}
	s, err := parseSettings(cmd, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringwatch: %v\n", err)
		return 2
	}
	log := newLogger(s, stderr)
	if cmd == "serve" {
		if gcSetting = gcMode(getenv); gcSetting == "auto" {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go newGCTuner().run(ctx)
		}
	}
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cmd == "agent" {
		err = runAgent(ctx, s, log)
	} else {
		err = runServe(ctx, s, log)
	}
	if err != nil {
		log.Error("ringwatch stopped with an error", "err", err)
		return 1
	}
	return 0
}

// waitReloading waits for ctx to end, reloading the routes (and, on a hub,
// the bus's identities: reload) on every SIGHUP.
func waitReloading(ctx context.Context, s Settings, ks []kind, log *slog.Logger, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reloadRoutes(s.ConfigFile, ks, log)
			if reload != nil {
				reload()
			}
		}
	}
}

func newLogger(s Settings, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				rev = " " + kv.Value[:12]
			}
		}
	}
	return fmt.Sprintf("ringwatch %s%s (%s %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// gcSetting is how the hub's garbage collector is set, for its start-up
// line (see gctune.go).
var gcSetting = "default"

func runServe(ctx context.Context, s Settings, log *slog.Logger) error {
	ks, err := kinds(s)
	if err != nil {
		return err
	}
	h, err := startHub(ctx, s, ks, log)
	if err != nil {
		return err
	}
	log.Info("ringwatch serving", "version", version, "host", s.Host, "http", s.HTTPAddr, "data", s.DataDir, "routes", len(s.Routes), "gogc", gcSetting)
	waitReloading(ctx, s, ks, log, h.reloadIdentities)
	log.Info("shutting down")
	if err := h.stop(s.ShutdownTimeout); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// runAgent runs the pollers only, publishing to the hub at --bus.
func runAgent(ctx context.Context, s Settings, log *slog.Logger) error {
	if s.Bus == "" {
		return errors.New("agent: --bus is required (the hub's NATS URL, e.g. nats://hub:4222)")
	}
	ks, err := kinds(s)
	if err != nil {
		return err
	}
	publishing := 0
	for _, k := range ks {
		if k.source != nil {
			publishing++
		}
	}
	conn, err := bus.DialOutbox(bus.OutboxOptions{URLs: s.Bus, Name: "ringwatch-agent-" + s.Host, Creds: s.Creds,
		Buffer: max(int(s.Buffer/s.PollInterval), 1) * publishing, Log: log, Acked: s.Acks, Host: s.Host, HostName: displayName(s)})
	if err != nil {
		return err
	}
	defer conn.Close()
	state := newAgentState(s.DataDir, s.Host, conn)
	state.restore(ks, log)
	sup := actors.NewSupervisor(log, actors.DefaultBackoff)
	for _, k := range ks {
		if k.actor != nil {
			if err := sup.Start(ctx, actors.Spec{Name: "checks/" + k.agg.Name, Stage: actors.StagePoller, Actor: k.actor}); err != nil {
				return err
			}
		}
		if k.source == nil {
			continue
		}
		subject := bus.Raw(s.Host, k.agg.Name)
		if err := sup.Start(ctx, actors.Spec{Name: "poller/" + k.agg.Name, Stage: actors.StagePoller, Actor: &actors.Poller{
			Name: k.agg.Name, Subject: subject, Interval: s.PollInterval,
			Source: k.source, Pub: state.publisher(subject, k.agg.Name), Log: log,
		}}); err != nil {
			return err
		}
	}
	log.Info("ringwatch agent publishing", "host", s.Host, "bus", s.Bus, "routes", len(s.Routes))
	waitReloading(ctx, s, ks, log, nil)
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	err = sup.Stop(sctx)
	state.save(log)
	if ferr := conn.Flush(); ferr != nil {
		log.Warn("agent stopped before the hub had every sample", "err", ferr)
	}
	return err
}

// displayName is --host as given when it differs from its subject token
// ("My NAS" for my-nas), sent with each sample for GoDoxy's web UI; else "".
func displayName(s Settings) string {
	if s.HostName == s.Host {
		return ""
	}
	return s.HostName
}
