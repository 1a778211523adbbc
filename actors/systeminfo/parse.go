package systeminfo

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

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

var errFormat = errors.New("unexpected format")

// fields splits b on spaces without allocating beyond out's capacity.
func fields(b []byte, out [][]byte) [][]byte {
	out = out[:0]
	i := 0
	for i < len(b) {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\t' {
			j++
		}
		if j > i {
			out = append(out, b[i:j])
		}
		i = j
	}
	return out
}

func atou(b []byte) (uint64, error) {
	var n uint64
	if len(b) == 0 {
		return 0, errFormat
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errFormat
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
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

// IfCounters are one /proc/net/dev line's byte counters.
type IfCounters struct {
	Name       string
	Recv, Sent uint64
}

// ParseNetDev parses /proc/net/dev, keeping interfaces keep accepts.
func ParseNetDev(b []byte, keep func([]byte) bool, name func([]byte) string, out []IfCounters) ([]IfCounters, error) {
	out = out[:0]
	var fs [20][]byte
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // the two header lines
		}
		ifname := bytes.TrimSpace(line[:colon])
		f := fields(line[colon+1:], fs[:0])
		if len(f) < 16 {
			return out, fmt.Errorf("net/dev line %q: %w", line, errFormat)
		}
		if !keep(ifname) {
			continue
		}
		recv, err1 := atou(f[0])
		sent, err2 := atou(f[8])
		if err := errors.Join(err1, err2); err != nil {
			return out, fmt.Errorf("net/dev %s: %w", ifname, err)
		}
		out = append(out, IfCounters{Name: name(ifname), Recv: recv, Sent: sent})
	}
	return out, nil
}

// parseMilli parses a sysfs value in thousandths ("45000\n" is 45).
func parseMilli(b []byte) (float64, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil {
		return 0, err
	}
	return v / 1000, nil
}
