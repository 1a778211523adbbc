// Package systeminfo is the system_info kind: the sample type (GoDoxy's
// SystemInfo, field for field, plus ringwatch's additions), the Source that
// polls this host, and the ten aggregate modes.
//
// The Source is made of collectors, one per kind of data and one file each,
// as node_exporter's are: cpu (/proc/stat), meminfo (/proc/meminfo),
// diskstats (/proc/diskstats), netdev (/proc/net/dev), filesystem (the mount
// list and statfs), hwmon (temperature inputs) and sysinfo (sysinfo(2): load
// averages and uptime). Each is timed and keeps its last error
// (Source.Collectors); a collector that fails loses its part of the sample
// alone. The kernel files are read through descriptors kept open (one pread
// per poll). Only the mount list comes from gopsutil, cached and refreshed
// every MountRefresh; statfs is called directly, under a timeout per mount,
// with a set of stuck mounts that are skipped until their call returns.
// Paths honour gopsutil's HOST_PROC, HOST_SYS and HOST_ROOT overrides, from
// Config.Env first and then the environment.
//
// A poll honours its context: it stops between collectors once the context
// ends, and stops waiting for statfs calls.
//
// Parsing is split from I/O: each parse function takes bytes and is tested on
// fixtures. Rates come from monotonic time deltas and per-device counter
// deltas; a counter that went down yields rate 0 for that sample.
//
// A Source belongs to one poller goroutine.
package systeminfo
