// Package systeminfo is the system_info kind: the sample type (GoDoxy's
// SystemInfo, field for field, plus ringwatch's additions), the Source that
// polls this host, and the ten aggregate modes.
//
// The Source reads kernel files directly through file descriptors it keeps
// open (/proc/stat, /proc/meminfo, /proc/diskstats, /proc/net/dev and the hwmon
// temperature inputs), using gopsutil where it costs little: the mount list
// (cached, refreshed every MountRefresh) and statfs. Paths honour gopsutil's
// HOST_PROC, HOST_SYS and HOST_ROOT overrides, from the context's
// common.EnvMap first and then the environment.
//
// Parsing is split from I/O: each parse function takes bytes and is tested on
// fixtures. Rates come from monotonic time deltas and per-device counter
// deltas; a counter that went down yields rate 0 for that sample.
//
// A Source belongs to one poller goroutine.
package systeminfo
