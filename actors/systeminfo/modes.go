package systeminfo

import (
	"math"

	"github.com/ringwatch/ringwatch/aggregators"
)

// Name is the kind's name on the bus and in the API.
const Name = "system_info"

// Kind is system_info's aggregation side: its counters and its modes.
func Kind() aggregators.Kind {
	return aggregators.Kind{Name: Name, Counters: Counters, Modes: Modes}
}

// Modes are GoDoxy's ten aggregate modes (reference §3.7), with the same
// inclusion rules and point shapes, and five of ringwatch's own. Values
// come from bucket means (or, with stat=min|max, the bucket extremes);
// cumulative counters report their last value in the bucket.
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

	// ringwatch's own modes (the dashboard's host page draws them; GoDoxy
	// has no equivalent): per-core CPU, load, swap, and the network per
	// interface.
	"cpu_per_core":        perValue("cpu_per_core", asFloat64),
	"load_avg":            objectFields("load_avg", []string{"load1", "load5", "load15"}, asFloat64),
	"swap_usage":          scalar("swap_usage", "swap.used", asUint64, always),
	"interfaces_speed":    perInterface("upload_speed", "download_speed", asFloat32),
	"interfaces_transfer": perInterface("bytes_sent", "bytes_recv", asUint64),
}

// perValue emits {"timestamp", <index>: value, ...} for a list of numbers
// ("0" for the first core), for entries where the list was present.
func perValue(list string, conv func(float64) any) aggregators.Mode {
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			l := e.Layout.Lookup(list)
			if !e.Has(l) {
				continue
			}
			pt := Point{}
			for _, c := range l.Children() {
				if v, ok := e.Get(c, q.Stat); ok {
					pt[c.Key] = conv(v)
				}
			}
			pt["timestamp"] = e.Start
			out = append(out, pt)
		}
		return out, nil
	}
}

// objectFields emits {"timestamp", <field>: value, ...} for the fields of one
// object, for entries where the object was present.
func objectFields(object string, names []string, conv func(float64) any) aggregators.Mode {
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			o := e.Layout.Lookup(object)
			if !e.Has(o) {
				continue
			}
			pt := Point{"timestamp": e.Start}
			for _, f := range names {
				if v, ok := e.Get(o.Child(f), q.Stat); ok {
					pt[f] = conv(v)
				}
			}
			out = append(out, pt)
		}
		return out, nil
	}
}

// perInterface emits {"timestamp", <interface>: {"upload": u, "download":
// d}, ...} from the interfaces' fields up and down.
func perInterface(up, down string, conv func(float64) any) aggregators.Mode {
	return func(entries []aggregators.Entry, q aggregators.Query) ([]any, error) {
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			ifs := e.Layout.Lookup("interfaces")
			if !e.Has(ifs) {
				continue
			}
			pt := Point{}
			for _, i := range ifs.Children() {
				u, okU := e.Get(i.Child(up), q.Stat)
				d, okD := e.Get(i.Child(down), q.Stat)
				if okU || okD {
					pt[i.Key] = map[string]any{"upload": conv(u), "download": conv(d)}
				}
			}
			pt["timestamp"] = e.Start
			out = append(out, pt)
		}
		return out, nil
	}
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
