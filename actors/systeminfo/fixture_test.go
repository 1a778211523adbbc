package systeminfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/common"
)

// fixture is a fake host: a procfs and sysfs tree in a temporary folder, fed
// to the Source through gopsutil's HOST_PROC, HOST_SYS and HOST_ROOT keys.
type fixture struct {
	t             *testing.T
	root          string
	proc, sys, fs string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	fx := &fixture{t: t, root: root, proc: filepath.Join(root, "proc"), sys: filepath.Join(root, "sys"), fs: filepath.Join(root, "rootfs")}
	for _, d := range []string{fx.proc + "/1", fx.proc + "/net", fx.sys, fx.fs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx.write("proc/1/mountinfo", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"+
		"30 27 0:27 / /run rw - tmpfs tmpfs rw\n"+
		"31 27 0:44 / /mnt/nas rw - nfs4 nas:/export rw\n")
	fx.cpu(100, 100)
	fx.write("proc/meminfo", "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:   12288000 kB\nBuffers: 1 kB\nCached: 2 kB\nSwapTotal:       2048000 kB\nSwapFree:        1024000 kB\n")
	fx.disk(1000, 2000)
	fx.net(5000, 7000)
	return fx
}

func (fx *fixture) env() common.EnvMap {
	return common.EnvMap{common.HostProcEnvKey: fx.proc, common.HostSysEnvKey: fx.sys, common.HostRootEnvKey: fx.fs}
}

func (fx *fixture) write(rel, content string) {
	fx.t.Helper()
	p := filepath.Join(fx.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		fx.t.Fatal(err)
	}
	// Write in place, as the kernel's files change under an open descriptor.
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) remove(rel string) {
	if err := os.Remove(filepath.Join(fx.root, rel)); err != nil {
		fx.t.Fatal(err)
	}
}

// cpu writes /proc/stat with two cores whose busy and idle ticks are given.
func (fx *fixture) cpu(busy, idle uint64) {
	line := func(name string, b, i uint64) string {
		return fmt.Sprintf("%s %d 0 0 %d 0 0 0 0 0 0\n", name, b, i)
	}
	fx.write("proc/stat", line("cpu", 2*busy, 2*idle)+line("cpu0", busy, idle)+line("cpu1", busy, idle)+
		"intr 1 2 3\nctxt 100\nbtime 1795000000\nprocesses 10\n")
}

// disk writes /proc/diskstats with nvme0n1 (and its partition, a loop device
// and an md array) at the given sector counts; reads and writes complete one
// per sector.
func (fx *fixture) disk(readSectors, writeSectors uint64) {
	var b strings.Builder
	row := func(major, minor int, name string, r, rs, w, ws uint64) {
		fmt.Fprintf(&b, "%4d %7d %s %d 0 %d 0 %d 0 %d 0 0 0 0 0 0 0 0 0 0\n", major, minor, name, r, rs, w, ws)
	}
	row(259, 0, "nvme0n1", readSectors, readSectors, writeSectors, writeSectors)
	row(259, 1, "nvme0n1p1", readSectors, readSectors, writeSectors, writeSectors)
	row(7, 0, "loop0", 5, 5, 5, 5)
	row(9, 0, "md0", 10, 10, 0, 0)
	row(8, 0, "sdz", 0, 0, 0, 0) // never used: left out
	fx.write("proc/diskstats", b.String())
}

// net writes /proc/net/dev with lo, eth0 and a veth at the given counters.
func (fx *fixture) net(recv, sent uint64) {
	head := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	row := func(name string, r, s uint64) string {
		return fmt.Sprintf("%6s: %d 1 0 0 0 0 0 0 %d 1 0 0 0 0 0 0\n", name, r, s)
	}
	fx.write("proc/net/dev", head+row("lo", 99999, 99999)+row("eth0", recv, sent)+row("veth1a2b", recv, sent))
}

// sensor adds an hwmon temperature input.
func (fx *fixture) sensor(hwmon, name, idx, label string, milli, max, crit int) {
	dir := fmt.Sprintf("sys/class/hwmon/%s", hwmon)
	fx.write(dir+"/name", name+"\n")
	fx.write(fmt.Sprintf("%s/temp%s_input", dir, idx), fmt.Sprintf("%d\n", milli))
	if label != "" {
		fx.write(fmt.Sprintf("%s/temp%s_label", dir, idx), label+"\n")
	}
	if max > 0 {
		fx.write(fmt.Sprintf("%s/temp%s_max", dir, idx), fmt.Sprintf("%d\n", max))
	}
	if crit > 0 {
		fx.write(fmt.Sprintf("%s/temp%s_crit", dir, idx), fmt.Sprintf("%d\n", crit))
	}
}
