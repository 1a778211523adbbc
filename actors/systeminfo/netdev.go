package systeminfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// netdevCollector reads /proc/net/dev: each interface's byte counters and
// speeds, and their totals over the interfaces not excluded.
type netdevCollector struct {
	file  *procFile
	skip  *regexp.Regexp // interfaces left out besides lo; nil: none
	names names
	keep  memo
	prev  map[string]IfCounters
	buf   []IfCounters
}

func newNetdevCollector(env context.Context, exclude string) (*netdevCollector, error) {
	c := &netdevCollector{file: newProcFile(netDevPath(env)), names: names{}, prev: map[string]IfCounters{}}
	c.keep = newMemo(func(b []byte) bool { return string(b) != "lo" && (c.skip == nil || !c.skip.Match(b)) })
	switch exclude {
	case "-":
	case "":
		c.skip = regexp.MustCompile(DefaultNetExclude)
	default:
		re, err := regexp.Compile(exclude)
		if err != nil {
			return nil, fmt.Errorf("systeminfo: interface exclusion pattern: %w", err)
		}
		c.skip = re
	}
	return c, nil
}

// netDevPath prefers PID 1's view of the network (the host's, when a
// container mounts the host's /proc at HOST_PROC) over the reader's own.
func netDevPath(env context.Context) string {
	if p := envPath(env, common.HostProcEnvKey, "/proc", "1/net/dev"); fileExists(p) {
		return p
	}
	return envPath(env, common.HostProcEnvKey, "/proc", "net/dev")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (c *netdevCollector) update(_ context.Context, p *poll, si *SystemInfo, _ actors.Reporter) error {
	b, err := c.file.Read()
	if err != nil {
		return err
	}
	c.buf, err = ParseNetDev(b, c.keep.has, c.names.intern, c.buf)
	if err != nil {
		return err
	}
	var total Network
	for _, d := range c.buf {
		n := Network{BytesSent: d.Sent, BytesRecv: d.Recv}
		if prev, ok := c.prev[d.Name]; ok && p.dt > 0 {
			n.UploadSpeed = float32(rate(prev.Sent, d.Sent, p.dt))
			n.DownloadSpeed = float32(rate(prev.Recv, d.Recv, p.dt))
		}
		si.Interfaces[d.Name] = n
		total.BytesSent += n.BytesSent
		total.BytesRecv += n.BytesRecv
		total.UploadSpeed += n.UploadSpeed
		total.DownloadSpeed += n.DownloadSpeed
	}
	si.Network = total
	clear(c.prev)
	for _, d := range c.buf {
		c.prev[d.Name] = d
	}
	return nil
}

// restore takes the counters of a sample published before a restart.
func (c *netdevCollector) restore(last map[string]Network) {
	for name, n := range last {
		c.prev[name] = IfCounters{Name: name, Recv: n.BytesRecv, Sent: n.BytesSent}
	}
}

func (c *netdevCollector) close() { c.file.Close() }

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

var _ collector = (*netdevCollector)(nil)
