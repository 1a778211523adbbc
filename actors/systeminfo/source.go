package systeminfo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"time"

	"github.com/shirou/gopsutil/v4/common"
	"golang.org/x/sys/unix"

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

// Source polls this host. It keeps the previous counters to compute rates.
type Source struct {
	cfg      Config
	ctx      context.Context
	netSkip  *regexp.Regexp
	stat     *procFile
	meminfo  *procFile
	diskst   *procFile
	netdev   *procFile
	disks    *diskCollector
	sensors  *sensorCollector
	sysinfo  func(*unix.Sysinfo_t) error
	names    map[string]string
	keepDisk map[string]bool
	keepIf   map[string]bool

	st       Stat
	prevCPU  *Stat
	prevTime time.Time
	prevDisk map[string]DiskCounters
	prevIf   map[string]IfCounters
	diskBuf  []DiskCounters
	ifBuf    []IfCounters
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
	ctx := context.Background()
	if cfg.Env != nil {
		ctx = context.WithValue(ctx, common.EnvKey, cfg.Env)
	}
	s := &Source{
		cfg: cfg, ctx: ctx,
		stat:     newProcFile(envPath(ctx, common.HostProcEnvKey, "/proc", "stat")),
		meminfo:  newProcFile(envPath(ctx, common.HostProcEnvKey, "/proc", "meminfo")),
		diskst:   newProcFile(envPath(ctx, common.HostProcEnvKey, "/proc", "diskstats")),
		netdev:   newProcFile(netDevPath(ctx)),
		disks:    newDiskCollector(ctx, cfg.IncludeNetworkFS, cfg.MountRefresh, cfg.DiskTimeout),
		sensors:  newSensorCollector(ctx, cfg.SensorRefresh),
		sysinfo:  unix.Sysinfo,
		names:    map[string]string{},
		keepDisk: map[string]bool{},
		keepIf:   map[string]bool{},
		prevDisk: map[string]DiskCounters{},
		prevIf:   map[string]IfCounters{},
	}
	switch cfg.NetExclude {
	case "-":
	case "":
		s.netSkip = regexp.MustCompile(DefaultNetExclude)
	default:
		re, err := regexp.Compile(cfg.NetExclude)
		if err != nil {
			return nil, fmt.Errorf("systeminfo: interface exclusion pattern: %w", err)
		}
		s.netSkip = re
	}
	if b, err := s.stat.Read(); err == nil {
		var st Stat
		if ParseStat(b, &st) == nil {
			s.prevCPU = &st
		}
	}
	return s, nil
}

// netDevPath prefers PID 1's view of the network (the host's, when a
// container mounts the host's /proc at HOST_PROC) over the reader's own.
func netDevPath(ctx context.Context) string {
	if p := envPath(ctx, common.HostProcEnvKey, "/proc", "1/net/dev"); fileExists(p) {
		return p
	}
	return envPath(ctx, common.HostProcEnvKey, "/proc", "net/dev")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Close releases the open kernel files.
func (s *Source) Close() {
	for _, f := range []*procFile{s.stat, s.meminfo, s.diskst, s.netdev} {
		f.Close()
	}
	s.sensors.close()
}

// Restore takes the counters of the last sample published before a restart,
// so that the first rates after the restart cover the real gap.
func (s *Source) Restore(last []byte) error {
	var si SystemInfo
	if err := json.Unmarshal(last, &si); err != nil {
		return fmt.Errorf("systeminfo: restore: %w", err)
	}
	for name, d := range si.DisksIO {
		s.prevDisk[name] = DiskCounters{Name: name, Reads: d.ReadCount, Writes: d.WriteCount,
			ReadSectors: d.ReadBytes / 512, WriteSectors: d.WriteBytes / 512}
	}
	for name, n := range si.Interfaces {
		s.prevIf[name] = IfCounters{Name: name, Recv: n.BytesRecv, Sent: n.BytesSent}
	}
	s.prevTime = time.Unix(si.Timestamp, 0)
	return nil
}

func (s *Source) intern(b []byte) string {
	if n, ok := s.names[string(b)]; ok {
		return n
	}
	n := string(b)
	s.names[n] = n
	return n
}

func (s *Source) keepDiskName(b []byte) bool {
	k, ok := s.keepDisk[string(b)]
	if !ok {
		k = IsWholeDisk(string(b))
		s.keepDisk[string(b)] = k
	}
	return k
}

func (s *Source) keepIfName(b []byte) bool {
	k, ok := s.keepIf[string(b)]
	if !ok {
		k = string(b) != "lo" && (s.netSkip == nil || !s.netSkip.Match(b))
		s.keepIf[string(b)] = k
	}
	return k
}

// rate is the per-second increase from prev to cur, or 0 when the counter went
// down (a reset or a removed device) or no usable time passed.
func rate(prev, cur uint64, dt float64) float64 {
	if cur < prev || dt <= 0 {
		return 0
	}
	return float64(cur-prev) / dt
}

// Poll reads every source it can. Each part that fails is reported and left
// out; the sample is an error only when nothing at all could be read.
func (s *Source) Poll(ctx context.Context, r actors.Reporter) (any, error) {
	return s.PollAt(ctx, time.Now(), r)
}

// PollAt is Poll with the sample time given.
func (s *Source) PollAt(_ context.Context, now time.Time, r actors.Reporter) (*SystemInfo, error) {
	si := &SystemInfo{
		Timestamp:  now.Unix(),
		Disks:      map[string]DiskUsage{},
		DisksIO:    map[string]DiskIO{},
		Sensors:    []Sensor{},
		CPUPerCore: []float64{},
		Interfaces: map[string]Network{},
	}
	dt := -1.0
	if !s.prevTime.IsZero() {
		if gap := now.Sub(s.prevTime); gap > 0 && gap <= s.cfg.MaxRateGap {
			dt = gap.Seconds()
		}
	}
	read := 0
	var errs []error
	fail := func(part string, err error) {
		r.Error(part, err)
		errs = append(errs, fmt.Errorf("%s: %w", part, err))
	}

	if err := s.pollCPU(si); err != nil {
		fail("cpu", err)
	} else {
		read++
	}
	if err := s.pollMemory(si); err != nil {
		fail("memory", err)
	} else {
		read++
	}
	if err := s.pollDiskIO(si, dt); err != nil {
		fail("disks_io", err)
	} else {
		read++
	}
	if err := s.pollNetwork(si, dt); err != nil {
		fail("network", err)
	} else {
		read++
	}
	s.disks.collect(now, si.Disks, r)
	si.Sensors = s.sensors.collect(now, si.Sensors, r)
	var info unix.Sysinfo_t
	if err := s.sysinfo(&info); err != nil {
		fail("sysinfo", err)
	} else {
		const scale = 1 << 16 // SI_LOAD_SHIFT
		si.LoadAvg = LoadAvg{float64(info.Loads[0]) / scale, float64(info.Loads[1]) / scale, float64(info.Loads[2]) / scale}
		si.Uptime = uint64(info.Uptime)
		read++
	}
	s.prevTime = now
	if read == 0 {
		return nil, fmt.Errorf("no part of the system could be read: %w", errors.Join(errs...))
	}
	return si, nil
}

func (s *Source) pollCPU(si *SystemInfo) error {
	b, err := s.stat.Read()
	if err != nil {
		return err
	}
	if err := ParseStat(b, &s.st); err != nil {
		return err
	}
	si.BootTime = s.st.BootTime
	if p := s.prevCPU; p != nil {
		if v, ok := busyPercent(p.Total, s.st.Total); ok {
			si.CPUAverage = &v
		}
		if len(p.Cores) == len(s.st.Cores) {
			for i := range s.st.Cores {
				v, _ := busyPercent(p.Cores[i], s.st.Cores[i])
				si.CPUPerCore = append(si.CPUPerCore, v)
			}
		}
	} else {
		s.prevCPU = &Stat{}
	}
	// Swap the buffers: the current reading becomes the baseline.
	*s.prevCPU, s.st = s.st, Stat{Cores: s.prevCPU.Cores[:0]}
	return nil
}

func (s *Source) pollMemory(si *SystemInfo) error {
	b, err := s.meminfo.Read()
	if err != nil {
		return err
	}
	m, err := ParseMemInfo(b)
	if err != nil {
		return err
	}
	used := m.Total - m.Available
	si.Memory = Memory{Available: m.Available, Used: used, Total: m.Available + used}
	if si.Memory.Total > 0 {
		si.Memory.UsedPercent = float64(used) / float64(si.Memory.Total) * 100
	}
	if m.SwapTotal > 0 {
		free := min(m.SwapFree, m.SwapTotal)
		si.Swap = Swap{Total: m.SwapTotal, Free: free, Used: m.SwapTotal - free,
			UsedPercent: float64(m.SwapTotal-free) / float64(m.SwapTotal) * 100}
	}
	return nil
}

func (s *Source) pollDiskIO(si *SystemInfo, dt float64) error {
	b, err := s.diskst.Read()
	if err != nil {
		return err
	}
	s.diskBuf, err = ParseDiskstats(b, s.keepDiskName, s.intern, s.diskBuf)
	if err != nil {
		return err
	}
	for _, c := range s.diskBuf {
		d := DiskIO{Name: c.Name, ReadCount: c.Reads, WriteCount: c.Writes,
			ReadBytes: c.ReadSectors * 512, WriteBytes: c.WriteSectors * 512}
		if p, ok := s.prevDisk[c.Name]; ok && dt > 0 {
			d.ReadSpeed = float32(rate(p.ReadSectors*512, d.ReadBytes, dt))
			d.WriteSpeed = float32(rate(p.WriteSectors*512, d.WriteBytes, dt))
			d.IOPS = uint64(math.Round(rate(p.Reads, c.Reads, dt) + rate(p.Writes, c.Writes, dt)))
		}
		si.DisksIO[c.Name] = d
	}
	clear(s.prevDisk)
	for _, c := range s.diskBuf {
		s.prevDisk[c.Name] = c
	}
	return nil
}

func (s *Source) pollNetwork(si *SystemInfo, dt float64) error {
	b, err := s.netdev.Read()
	if err != nil {
		return err
	}
	s.ifBuf, err = ParseNetDev(b, s.keepIfName, s.intern, s.ifBuf)
	if err != nil {
		return err
	}
	var total Network
	for _, c := range s.ifBuf {
		n := Network{BytesSent: c.Sent, BytesRecv: c.Recv}
		if p, ok := s.prevIf[c.Name]; ok && dt > 0 {
			n.UploadSpeed = float32(rate(p.Sent, c.Sent, dt))
			n.DownloadSpeed = float32(rate(p.Recv, c.Recv, dt))
		}
		si.Interfaces[c.Name] = n
		total.BytesSent += n.BytesSent
		total.BytesRecv += n.BytesRecv
		total.UploadSpeed += n.UploadSpeed
		total.DownloadSpeed += n.DownloadSpeed
	}
	si.Network = total
	clear(s.prevIf)
	for _, c := range s.ifBuf {
		s.prevIf[c.Name] = c
	}
	return nil
}

var _ actors.Source = (*Source)(nil)
