package systeminfo

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/ringwatch/ringwatch/actors"
)

// sysinfoCollector calls sysinfo(2): the load averages and the uptime.
type sysinfoCollector struct {
	call func(*unix.Sysinfo_t) error
}

func newSysinfoCollector() *sysinfoCollector { return &sysinfoCollector{call: unix.Sysinfo} }

func (c *sysinfoCollector) update(_ context.Context, _ *poll, si *SystemInfo, _ actors.Reporter) error {
	var info unix.Sysinfo_t
	if err := c.call(&info); err != nil {
		return err
	}
	const scale = 1 << 16 // SI_LOAD_SHIFT
	si.LoadAvg = LoadAvg{float64(info.Loads[0]) / scale, float64(info.Loads[1]) / scale, float64(info.Loads[2]) / scale}
	si.Uptime = uint64(info.Uptime)
	return nil
}

var _ collector = (*sysinfoCollector)(nil)
