package systeminfo

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/disk"
	"golang.org/x/sys/unix"

	"github.com/ringwatch/ringwatch/actors"
)

// mount is one file system the filesystem collector reports.
type mount struct {
	key, device, path, fstype string
	statPath                  string // path with HOST_ROOT applied
}

// filesystemCollector reports disk usage. It caches the mount list
// (mountinfo changes rarely and gopsutil's parse is the costliest part of a
// poll) and runs each
// statfs under a timeout: a mount whose statfs does not return in time is
// marked stuck and skipped until the call comes back, so a dead network mount
// costs one timeout, not one per poll.
type filesystemCollector struct {
	env          context.Context // carries gopsutil's EnvMap
	hostRoot     string
	includeNetFS bool
	refresh      time.Duration
	timeout      time.Duration
	statfs       func(path string) (DiskUsage, error)

	mounts  []mount
	fetched time.Time
	stuck   map[string]chan struct{} // path -> closed when its statfs returns
}

func newFilesystemCollector(env context.Context, includeNetFS bool, refresh, timeout time.Duration) *filesystemCollector {
	root := envPath(env, common.HostRootEnvKey, "/")
	return &filesystemCollector{
		env: env, hostRoot: root, includeNetFS: includeNetFS, refresh: refresh, timeout: timeout,
		statfs: statfsUsage, stuck: map[string]chan struct{}{},
	}
}

func statfsUsage(path string) (DiskUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return DiskUsage{}, err
	}
	bs := uint64(st.Bsize)
	free := st.Bavail * bs
	used := (st.Blocks - st.Bfree) * bs
	u := DiskUsage{Free: free, Used: used, Total: free + used}
	if u.Total > 0 {
		u.UsedPercent = float64(used) / float64(u.Total) * 100
	}
	return u, nil
}

// listMounts picks the file systems to report from gopsutil's partitions: the
// root, every mount of a /dev/ device except read-only images (squashfs), one
// per device (the first mount of a device wins, so bind mounts do not replace
// the real mount point), and network file systems when asked for.
func (d *filesystemCollector) listMounts(ctx context.Context) ([]mount, error) {
	if m, ok := d.env.Value(common.EnvKey).(common.EnvMap); ok {
		ctx = context.WithValue(ctx, common.EnvKey, m)
	}
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil && len(parts) == 0 {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	seen := map[string]bool{}
	var out []mount
	for _, p := range parts {
		if p.Mountpoint == "" || (!d.includeNetFS && IsNetworkFS(p.Fstype)) {
			continue
		}
		if p.Mountpoint != "/" && !IsNetworkFS(p.Fstype) && (!strings.HasPrefix(p.Device, "/dev/") || p.Fstype == "squashfs") {
			continue
		}
		key := p.Device
		if key == "" || key == "none" || key == "/dev/root" {
			key = p.Mountpoint
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, mount{key: key, device: p.Device, path: p.Mountpoint, fstype: p.Fstype,
			statPath: filepath.Join(d.hostRoot, p.Mountpoint)})
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].path) < len(out[j].path) })
	return out, nil
}

type usageResult struct {
	i   int
	u   DiskUsage
	err error
}

// update fills si.Disks with the usage of every mount that answers in time
// (within the timeout, and before ctx ends). Mounts that do not are left
// out and reported; the collector fails only when it cannot list mounts.
func (d *filesystemCollector) update(ctx context.Context, p *poll, si *SystemInfo, r actors.Reporter) error {
	if d.mounts == nil || p.now.Sub(d.fetched) >= d.refresh {
		ms, err := d.listMounts(ctx)
		if err != nil {
			return err
		}
		d.mounts, d.fetched = ms, p.now
	}
	dst := si.Disks
	results := make(chan usageResult, len(d.mounts))
	pending := 0
	for i, m := range d.mounts {
		if ch, ok := d.stuck[m.statPath]; ok {
			select {
			case <-ch:
				delete(d.stuck, m.statPath)
			default:
				r.Warn("filesystem", fmt.Errorf("%s: statfs still blocked; skipped", m.path))
				continue
			}
		}
		done := make(chan struct{})
		d.stuck[m.statPath] = done // removed below if it answers in time
		pending++
		go func(i int, path string, done chan struct{}) {
			defer close(done)
			u, err := d.statfs(path)
			results <- usageResult{i, u, err}
		}(i, m.statPath, done)
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	for pending > 0 {
		select {
		case res := <-results:
			pending--
			m := d.mounts[res.i]
			delete(d.stuck, m.statPath)
			if res.err != nil {
				r.Warn("filesystem", fmt.Errorf("%s: %w", m.path, res.err))
				continue
			}
			res.u.Path, res.u.Fstype = m.path, m.fstype
			dst[m.key] = res.u
		case <-timer.C:
			r.Error("filesystem", fmt.Errorf("statfs timed out after %s on %d mount(s)", d.timeout, pending))
			return nil
		case <-ctx.Done():
			r.Error("filesystem", fmt.Errorf("poll ended with statfs pending on %d mount(s)", pending))
			return nil
		}
	}
	return nil
}

var _ collector = (*filesystemCollector)(nil)
