package systeminfo

import (
	"context"
	"fmt"
	"math"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// diskstatsCollector reads /proc/diskstats: each whole disk's counters (see
// IsWholeDisk) and their rates since the previous poll.
type diskstatsCollector struct {
	file  *procFile
	names names
	keep  memo
	prev  map[string]DiskCounters
	buf   []DiskCounters
}

func newDiskstatsCollector(env context.Context) *diskstatsCollector {
	return &diskstatsCollector{file: newProcFile(envPath(env, common.HostProcEnvKey, "/proc", "diskstats")),
		names: names{}, keep: newMemo(func(b []byte) bool { return IsWholeDisk(string(b)) }), prev: map[string]DiskCounters{}}
}

func (c *diskstatsCollector) update(_ context.Context, p *poll, si *SystemInfo, _ actors.Reporter) error {
	b, err := c.file.Read()
	if err != nil {
		return err
	}
	c.buf, err = ParseDiskstats(b, c.keep.has, c.names.intern, c.buf)
	if err != nil {
		return err
	}
	for _, d := range c.buf {
		io := DiskIO{Name: d.Name, ReadCount: d.Reads, WriteCount: d.Writes,
			ReadBytes: d.ReadSectors * 512, WriteBytes: d.WriteSectors * 512}
		if prev, ok := c.prev[d.Name]; ok && p.dt > 0 {
			io.ReadSpeed = float32(rate(prev.ReadSectors*512, io.ReadBytes, p.dt))
			io.WriteSpeed = float32(rate(prev.WriteSectors*512, io.WriteBytes, p.dt))
			io.IOPS = uint64(math.Round(rate(prev.Reads, d.Reads, p.dt) + rate(prev.Writes, d.Writes, p.dt)))
		}
		si.DisksIO[d.Name] = io
	}
	clear(c.prev)
	for _, d := range c.buf {
		c.prev[d.Name] = d
	}
	return nil
}

// restore takes the counters of a sample published before a restart.
func (c *diskstatsCollector) restore(last map[string]DiskIO) {
	for name, d := range last {
		c.prev[name] = DiskCounters{Name: name, Reads: d.ReadCount, Writes: d.WriteCount,
			ReadSectors: d.ReadBytes / 512, WriteSectors: d.WriteBytes / 512}
	}
}

func (c *diskstatsCollector) close() { c.file.Close() }

// DiskCounters are one /proc/diskstats line's counters.
type DiskCounters struct {
	Name                                     string
	Reads, Writes, ReadSectors, WriteSectors uint64
}

// ParseDiskstats parses /proc/diskstats, keeping devices keep accepts. It
// reuses out and calls name to intern device names.
func ParseDiskstats(b []byte, keep func([]byte) bool, name func([]byte) string, out []DiskCounters) ([]DiskCounters, error) {
	out = out[:0]
	var fs [24][]byte
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		f := fields(line, fs[:0])
		if len(f) == 0 {
			continue
		}
		if len(f) < 14 {
			return out, fmt.Errorf("diskstats line %q: %w", line, errFormat)
		}
		if !keep(f[2]) {
			continue
		}
		var c DiskCounters
		var err error
		for _, x := range []struct {
			dst *uint64
			i   int
		}{{&c.Reads, 3}, {&c.ReadSectors, 5}, {&c.Writes, 7}, {&c.WriteSectors, 9}} {
			if *x.dst, err = atou(f[x.i]); err != nil {
				return out, fmt.Errorf("diskstats %s: %w", f[2], err)
			}
		}
		if c.Reads == 0 && c.Writes == 0 && c.ReadSectors == 0 && c.WriteSectors == 0 {
			continue // never used: GoDoxy leaves such devices out too
		}
		c.Name = name(f[2])
		out = append(out, c)
	}
	return out, nil
}

var _ collector = (*diskstatsCollector)(nil)
