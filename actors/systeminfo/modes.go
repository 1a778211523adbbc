package systeminfo

import (
	"math"

	"github.com/ringwatch/ringwatch/aggregators"
)

// Name is the kind's name on the bus and in the API.
const Name = "system_info"

// Kind is system_info's aggregation side: its counters and its ten modes.
func Kind() aggregators.Kind {
	return aggregators.Kind{Name: Name, Counters: Counters, Modes: Modes}
}

// Modes are GoDoxy's ten aggregate modes (reference §3.7), with the same
// inclusion rules and point shapes. Values come from bucket means (or, with
// stat=min|max, the bucket extremes); cumulative counters report their last
// value in the bucket.
var Modes = map[string]aggregators.Mode{
	"cpu_average":          scalar("cpu_average", "cpu_average", asFloat64, always),
	"memory_usage":         scalar("memory_usage", "memory.used", asUint64, positive),
	"memory_usage_percent": scalar("memory_usage_percent", "memory.used_percent", asFloat64, positive),
	"disks_read_speed":     perDevice("disks_io", "readSpeed", asFloat32),
	"disks_write_speed":    perDevice("disks_io", "writeSpeed", asFloat32),
	"disks_iops":           perDevice("disks_io", "iops", asUint64),
	"disk_usage":           perDevice("disks", "used", asUint64),
	"network_speed":        network("upload_speed", "download_speed", asFloat32),
	"network_transfer":     network("bytes_sent", "bytes_recv", asUint64),
	"sensor_temperature":   perDevice("sensors", "temperature", asFloat32),
}

// Point is one response point: "timestamp" plus one key per series. It
// encodes with sorted keys, as GoDoxy's REST responses do.
type Point = map[string]any

func asFloat64(x float64) any { return x }
func asFloat32(x float64) any { return float32(x) }
func asUint64(x float64) any {
	if x <= 0 {
		return uint64(0)
	}
	return uint64(math.Round(x))
}

func always(float64) bool     { return true }
func positive(x float64) bool { return x > 0 }

func path(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

// scalar emits {"timestamp", key: value} for entries where the series exists
// and include(mean) holds.
func scalar(key, series string, conv func(float64) any, include func(float64) bool) aggregators.Mode {
	p := path(series)
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			n := e.Layout.Lookup(p...)
			mean, ok := e.Get(n, aggregators.Mean)
			if !ok || !include(mean) {
				continue
			}
			v, _ := e.Get(n, q.Stat)
			out = append(out, Point{"timestamp": e.Start, key: conv(v)})
		}
		return out, nil
	}
}

// perDevice emits {"timestamp", <device>: value, ...} for entries where the
// collection was present, one key per device seen in that bucket.
func perDevice(collection, field string, conv func(float64) any) aggregators.Mode {
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			coll := e.Layout.Lookup(collection)
			if !e.Has(coll) {
				continue
			}
			pt := Point{}
			for _, dev := range coll.Children() {
				if v, ok := e.Get(dev.Child(field), q.Stat); ok {
					pt[dev.Key] = conv(v)
				}
			}
			pt["timestamp"] = e.Start
			out = append(out, pt)
		}
		return out, nil
	}
}

// network emits {"timestamp", "upload", "download"} for entries whose byte
// counters are not both zero.
func network(up, down string, conv func(float64) any) aggregators.Mode {
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			net := e.Layout.Lookup("network")
			sent, _ := e.Get(net.Child("bytes_sent"), aggregators.Mean)
			recv, _ := e.Get(net.Child("bytes_recv"), aggregators.Mean)
			if sent == 0 && recv == 0 {
				continue
			}
			u, _ := e.Get(net.Child(up), q.Stat)
			d, _ := e.Get(net.Child(down), q.Stat)
			out = append(out, Point{"timestamp": e.Start, "upload": conv(u), "download": conv(d)})
		}
		return out, nil
	}
}
