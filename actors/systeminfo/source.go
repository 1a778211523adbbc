package systeminfo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// Config tunes the Source. The zero value is usable.
type Config struct {
	// Env overrides gopsutil's host paths (HOST_PROC, HOST_SYS, HOST_ROOT, ...)
	// for this source; unset keys fall back to the environment.
	Env common.EnvMap
	// NetExclude is a regular expression of interfaces left out of network
	// totals, besides lo (always left out). Empty: DefaultNetExclude. "-": none.
	NetExclude string
	// IncludeNetworkFS reports NFS, CIFS and other network mounts too.
	IncludeNetworkFS bool
	// DiskTimeout bounds each statfs call (default 500 ms).
	DiskTimeout time.Duration
	// MountRefresh is how often the mount list is re-read (default 1 min).
	MountRefresh time.Duration
	// SensorRefresh is how often sensors are rediscovered (default 5 min).
	SensorRefresh time.Duration
	// MaxRateGap is the longest gap over which rates are still computed, for
	// instance across a restart (default 10 min); longer gaps give rate 0.
	MaxRateGap time.Duration
}

// collector reads one part of the host into a sample. It reports problems
// that leave its part usable through r, and returns an error when its part
// is lost for this sample. Each collector belongs to the poll's goroutine.
type collector interface {
	update(ctx context.Context, p *poll, si *SystemInfo, r actors.Reporter) error
}

// poll is what every collector of one poll shares.
type poll struct {
	now time.Time
	dt  float64 // seconds since the previous sample; <= 0: no rates this time
}

// Source polls this host: one collector per kind of data (cpu, meminfo,
// diskstats, netdev, filesystem, hwmon, sysinfo), each timed and with its
// last error kept, as node_exporter does.
type Source struct {
	cfg        Config
	cpu        *cpuCollector
	disk       *diskstatsCollector
	net        *netdevCollector
	fs         *filesystemCollector
	hwmon      *hwmonCollector
	sys        *sysinfoCollector
	collectors []*timed
	prevTime   time.Time
}

// timed is one collector with its figures.
type timed struct {
	name  string
	c     collector
	core  bool // a sample needs at least one core part
	stats actors.CollectorStats
}

// New returns a Source and takes its CPU baseline, so the first poll, one
// interval later, has a real CPU figure.
func New(cfg Config) (*Source, error) {
	if cfg.DiskTimeout <= 0 {
		cfg.DiskTimeout = 500 * time.Millisecond
	}
	if cfg.MountRefresh <= 0 {
		cfg.MountRefresh = time.Minute
	}
	if cfg.SensorRefresh <= 0 {
		cfg.SensorRefresh = 5 * time.Minute
	}
	if cfg.MaxRateGap <= 0 {
		cfg.MaxRateGap = 10 * time.Minute
	}
	env := context.Background()
	if cfg.Env != nil {
		env = context.WithValue(env, common.EnvKey, cfg.Env)
	}
	net, err := newNetdevCollector(env, cfg.NetExclude)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:   cfg,
		cpu:   newCPUCollector(env),
		disk:  newDiskstatsCollector(env),
		net:   net,
		fs:    newFilesystemCollector(env, cfg.IncludeNetworkFS, cfg.MountRefresh, cfg.DiskTimeout),
		hwmon: newHwmonCollector(env, cfg.SensorRefresh),
		sys:   newSysinfoCollector(),
	}
	mem := newMeminfoCollector(env)
	for _, c := range []struct {
		name string
		c    collector
		core bool
	}{
		{"cpu", s.cpu, true}, {"meminfo", mem, true}, {"diskstats", s.disk, true}, {"netdev", s.net, true},
		{"filesystem", s.fs, false}, {"hwmon", s.hwmon, false}, {"sysinfo", s.sys, true},
	} {
		s.collectors = append(s.collectors, &timed{name: c.name, c: c.c, core: c.core, stats: actors.CollectorStats{Name: c.name}})
	}
	return s, nil
}

// Close releases the open kernel files.
func (s *Source) Close() {
	for _, c := range s.collectors {
		if cl, ok := c.c.(interface{ close() }); ok {
			cl.close()
		}
	}
}

// Restore takes the counters of the last sample published before a restart,
// so that the first rates after the restart cover the real gap.
func (s *Source) Restore(last []byte) error {
	var si SystemInfo
	if err := json.Unmarshal(last, &si); err != nil {
		return fmt.Errorf("systeminfo: restore: %w", err)
	}
	s.disk.restore(si.DisksIO)
	s.net.restore(si.Interfaces)
	s.prevTime = time.Unix(si.Timestamp, 0)
	return nil
}

// rate is the per-second increase from prev to cur, or 0 when the counter went
// down (a reset or a removed device) or no usable time passed.
func rate(prev, cur uint64, dt float64) float64 {
	if cur < prev || dt <= 0 {
		return 0
	}
	return float64(cur-prev) / dt
}

// Poll reads every part it can. Each part that fails is reported and left
// out; the sample is an error only when no core part could be read, or when
// ctx ended before the poll did.
func (s *Source) Poll(ctx context.Context, r actors.Reporter) (any, error) {
	return s.PollAt(ctx, time.Now(), r)
}

// PollAt is Poll with the sample time given.
func (s *Source) PollAt(ctx context.Context, now time.Time, r actors.Reporter) (*SystemInfo, error) {
	si := &SystemInfo{
		Timestamp:  now.Unix(),
		Disks:      map[string]DiskUsage{},
		DisksIO:    map[string]DiskIO{},
		Sensors:    []Sensor{},
		CPUPerCore: []float64{},
		Interfaces: map[string]Network{},
	}
	p := &poll{now: now, dt: -1}
	if !s.prevTime.IsZero() {
		if gap := now.Sub(s.prevTime); gap > 0 && gap <= s.cfg.MaxRateGap {
			p.dt = gap.Seconds()
		}
	}
	read := 0
	var errs []error
	for _, c := range s.collectors {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("poll stopped before %s: %w", c.name, err)
		}
		start := time.Now()
		err := c.c.update(ctx, p, si, r)
		c.stats.Record(start, time.Since(start), err)
		if err != nil {
			r.Error(c.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		} else if c.core {
			read++
		}
	}
	s.prevTime = now
	if read == 0 {
		return nil, fmt.Errorf("no part of the system could be read: %w", errors.Join(errs...))
	}
	return si, nil
}

// Collectors reports each collector's figures as of the last poll. It is
// called on the poller's goroutine, between polls.
func (s *Source) Collectors() []actors.CollectorStats {
	out := make([]actors.CollectorStats, len(s.collectors))
	for i, c := range s.collectors {
		out[i] = c.stats
	}
	return out
}

var (
	_ actors.Source            = (*Source)(nil)
	_ actors.CollectorReporter = (*Source)(nil)
)
