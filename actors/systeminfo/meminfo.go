package systeminfo

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// meminfoCollector reads /proc/meminfo: memory and swap use.
type meminfoCollector struct{ file *procFile }

func newMeminfoCollector(env context.Context) *meminfoCollector {
	return &meminfoCollector{file: newProcFile(envPath(env, common.HostProcEnvKey, "/proc", "meminfo"))}
}

func (c *meminfoCollector) update(_ context.Context, _ *poll, si *SystemInfo, _ actors.Reporter) error {
	b, err := c.file.Read()
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

func (c *meminfoCollector) close() { c.file.Close() }

// MemInfo is what ringwatch reads from /proc/meminfo, in bytes.
type MemInfo struct {
	Total, Available, SwapTotal, SwapFree uint64
}

// ParseMemInfo parses /proc/meminfo. Kernels before 3.14 have no MemAvailable;
// then MemFree+Buffers+Cached stands in for it.
func ParseMemInfo(b []byte) (MemInfo, error) {
	var m MemInfo
	var free, buffers, cached uint64
	var haveAvail, haveTotal bool
	var fs [4][]byte
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		f := fields(line, fs[:0])
		if len(f) < 2 {
			continue
		}
		var dst *uint64
		switch string(f[0]) {
		case "MemTotal:":
			dst, haveTotal = &m.Total, true
		case "MemAvailable:":
			dst, haveAvail = &m.Available, true
		case "MemFree:":
			dst = &free
		case "Buffers:":
			dst = &buffers
		case "Cached:":
			dst = &cached
		case "SwapTotal:":
			dst = &m.SwapTotal
		case "SwapFree:":
			dst = &m.SwapFree
		default:
			continue
		}
		v, err := atou(f[1])
		if err != nil {
			return m, fmt.Errorf("meminfo %s: %w", f[0], err)
		}
		if len(f) > 2 && string(f[2]) == "kB" {
			v *= 1024
		}
		*dst = v
	}
	if !haveTotal {
		return m, fmt.Errorf("meminfo: no MemTotal: %w", errFormat)
	}
	if !haveAvail {
		m.Available = free + buffers + cached
	}
	if m.Available > m.Total {
		m.Available = m.Total
	}
	return m, nil
}

var _ collector = (*meminfoCollector)(nil)
