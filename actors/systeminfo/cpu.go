package systeminfo

import (
	"bytes"
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// cpuCollector reads /proc/stat: the busy share of all CPUs and of each core
// since the previous poll (its own deltas: no sleep, no global state), and
// the boot time.
type cpuCollector struct {
	file *procFile
	st   Stat  // the current reading, reused
	prev *Stat // the previous reading; nil before the first
}

func newCPUCollector(env context.Context) *cpuCollector {
	c := &cpuCollector{file: newProcFile(envPath(env, common.HostProcEnvKey, "/proc", "stat"))}
	// The baseline, so that the first poll, one interval later, has a figure.
	if b, err := c.file.Read(); err == nil {
		var st Stat
		if ParseStat(b, &st) == nil {
			c.prev = &st
		}
	}
	return c
}

func (c *cpuCollector) update(_ context.Context, _ *poll, si *SystemInfo, _ actors.Reporter) error {
	b, err := c.file.Read()
	if err != nil {
		return err
	}
	if err := ParseStat(b, &c.st); err != nil {
		return err
	}
	si.BootTime = c.st.BootTime
	if p := c.prev; p != nil {
		if v, ok := busyPercent(p.Total, c.st.Total); ok {
			si.CPUAverage = &v
		}
		if len(p.Cores) == len(c.st.Cores) {
			for i := range c.st.Cores {
				v, _ := busyPercent(p.Cores[i], c.st.Cores[i])
				si.CPUPerCore = append(si.CPUPerCore, v)
			}
		}
	} else {
		c.prev = &Stat{}
	}
	// Swap the buffers: the current reading becomes the baseline.
	*c.prev, c.st = c.st, Stat{Cores: c.prev.Cores[:0]}
	return nil
}

func (c *cpuCollector) close() { c.file.Close() }

// CPUTimes are one /proc/stat cpu line's fields, in USER_HZ ticks.
type CPUTimes struct {
	User, Nice, System, Idle, Iowait, Irq, Softirq, Steal uint64
}

func (t CPUTimes) total() uint64 {
	// guest and guest_nice are already inside user and nice.
	return t.User + t.Nice + t.System + t.Idle + t.Iowait + t.Irq + t.Softirq + t.Steal
}

func (t CPUTimes) idle() uint64 { return t.Idle + t.Iowait }

// Stat is what ringwatch reads from /proc/stat.
type Stat struct {
	Total    CPUTimes
	Cores    []CPUTimes
	BootTime uint64
}

// ParseStat parses /proc/stat into st, reusing st.Cores.
func ParseStat(b []byte, st *Stat) error {
	var fs [16][]byte
	st.Cores = st.Cores[:0]
	seen := false
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if !bytes.HasPrefix(line, []byte("cpu")) {
			if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
				bt, err := atou(bytes.TrimSpace(v))
				if err != nil {
					return fmt.Errorf("btime: %w", err)
				}
				st.BootTime = bt
			}
			continue
		}
		f := fields(line, fs[:0])
		if len(f) < 9 {
			return fmt.Errorf("cpu line %q: %w", line, errFormat)
		}
		var t CPUTimes
		dst := []*uint64{&t.User, &t.Nice, &t.System, &t.Idle, &t.Iowait, &t.Irq, &t.Softirq, &t.Steal}
		for i, p := range dst {
			v, err := atou(f[i+1])
			if err != nil {
				return fmt.Errorf("cpu line %q: %w", line, err)
			}
			*p = v
		}
		if len(f[0]) == 3 {
			st.Total, seen = t, true
		} else {
			st.Cores = append(st.Cores, t)
		}
	}
	if !seen {
		return fmt.Errorf("no cpu line: %w", errFormat)
	}
	return nil
}

// busyPercent is the busy share of the interval between a and b, or false
// when no time passed. Each field is compared on its own, because a counter
// such as iowait can go down.
func busyPercent(a, b CPUTimes) (float64, bool) {
	d := CPUTimes{
		User: sub(b.User, a.User), Nice: sub(b.Nice, a.Nice), System: sub(b.System, a.System),
		Idle: sub(b.Idle, a.Idle), Iowait: sub(b.Iowait, a.Iowait), Irq: sub(b.Irq, a.Irq),
		Softirq: sub(b.Softirq, a.Softirq), Steal: sub(b.Steal, a.Steal),
	}
	total := d.total()
	if total == 0 {
		return 0, false
	}
	return float64(total-d.idle()) / float64(total) * 100, true
}

func sub(b, a uint64) uint64 {
	if b < a {
		return 0
	}
	return b - a
}

var _ collector = (*cpuCollector)(nil)
