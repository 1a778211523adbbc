package systeminfo

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/aggregators"
)

// modeView feeds three samples into a 5m downsampler: two in the bucket that
// starts at 999, one (an idle host with nothing mounted) in the bucket at 1002.
func modeView(t *testing.T) *aggregators.View {
	t.Helper()
	samples := []string{
		`{"timestamp":999,"cpu_average":10,"memory":{"available":900,"used":100,"total":1000,"used_percent":10},` +
			`"disks":{"/dev/sda1":{"path":"/","fstype":"ext4","total":10000,"free":9000,"used":1000,"used_percent":10}},` +
			`"disks_io":{"sda":{"readCount":1,"writeCount":1,"readBytes":512,"writeBytes":512,"name":"sda","iops":3,"readSpeed":100,"writeSpeed":200}},` +
			`"network":{"bytes_sent":1000,"bytes_recv":2000,"upload_speed":10,"download_speed":20},` +
			`"sensors":[{"name":"coretemp_package_id_0","temperature":40,"high":80,"critical":100}],` +
			`"cpu_per_core":[5,15],"load_avg":{"load1":1,"load5":0.5,"load15":0.25},"swap":{"total":100,"used":10,"free":90,"used_percent":10},` +
			`"interfaces":{"eth0":{"bytes_sent":1000,"bytes_recv":2000,"upload_speed":10,"download_speed":20}}}`,
		`{"timestamp":1000,"cpu_average":20,"memory":{"available":700,"used":300,"total":1000,"used_percent":30},` +
			`"disks":{"/dev/sda1":{"path":"/","fstype":"ext4","total":10000,"free":7000,"used":3000,"used_percent":30}},` +
			`"disks_io":{"sda":{"readCount":2,"writeCount":2,"readBytes":1024,"writeBytes":1024,"name":"sda","iops":6,"readSpeed":300,"writeSpeed":400}},` +
			`"network":{"bytes_sent":1500,"bytes_recv":2500,"upload_speed":30,"download_speed":40},` +
			`"sensors":[{"name":"coretemp_package_id_0","temperature":50,"high":80,"critical":100}],` +
			`"cpu_per_core":[15,25],"load_avg":{"load1":2,"load5":1.5,"load15":0.75},"swap":{"total":100,"used":30,"free":70,"used_percent":30},` +
			`"interfaces":{"eth0":{"bytes_sent":1500,"bytes_recv":2500,"upload_speed":30,"download_speed":40}}}`,
		`{"timestamp":1002,"cpu_average":0,"memory":{"available":0,"used":0,"total":0,"used_percent":0},"disks":{},"disks_io":{},` +
			`"network":{"bytes_sent":0,"bytes_recv":0,"upload_speed":0,"download_speed":0},"sensors":[]}`,
	}
	k := Kind()
	f := aggregators.NewFlattener(nil, aggregators.ParsePatterns(k.Counters...))
	r := aggregators.NewRings(aggregators.Periods[0])
	for _, s := range samples {
		v, err := f.Flatten([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		v.Host, v.Kind = "h", Name
		if err := r.Add(v, time.Unix(2000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	return r.View("h", Name)
}

// TestAggregateModesGolden pins the exact JSON of every mode: GoDoxy's shapes
// and inclusion rules, values from bucket means (counters: the bucket's last
// value), integers where GoDoxy has integers.
func TestAggregateModesGolden(t *testing.T) {
	v := modeView(t)
	k := Kind()
	for _, c := range []struct{ mode, stat, want string }{
		{"cpu_average", "", `{"total":2,"data":[{"cpu_average":15,"timestamp":999},{"cpu_average":0,"timestamp":1002}]}`},
		{"cpu_average", "min", `{"total":2,"data":[{"cpu_average":10,"timestamp":999},{"cpu_average":0,"timestamp":1002}]}`},
		{"cpu_average", "max", `{"total":2,"data":[{"cpu_average":20,"timestamp":999},{"cpu_average":0,"timestamp":1002}]}`},
		{"memory_usage", "", `{"total":1,"data":[{"memory_usage":200,"timestamp":999}]}`},
		{"memory_usage_percent", "", `{"total":1,"data":[{"memory_usage_percent":20,"timestamp":999}]}`},
		{"disks_read_speed", "", `{"total":2,"data":[{"sda":200,"timestamp":999},{"timestamp":1002}]}`},
		{"disks_write_speed", "", `{"total":2,"data":[{"sda":300,"timestamp":999},{"timestamp":1002}]}`},
		{"disks_iops", "", `{"total":2,"data":[{"sda":5,"timestamp":999},{"timestamp":1002}]}`},
		{"disks_iops", "max", `{"total":2,"data":[{"sda":6,"timestamp":999},{"timestamp":1002}]}`},
		{"disk_usage", "", `{"total":2,"data":[{"/dev/sda1":2000,"timestamp":999},{"timestamp":1002}]}`},
		{"network_speed", "", `{"total":1,"data":[{"download":30,"timestamp":999,"upload":20}]}`},
		{"network_transfer", "", `{"total":1,"data":[{"download":2500,"timestamp":999,"upload":1500}]}`},
		{"sensor_temperature", "", `{"total":2,"data":[{"coretemp_package_id_0":45,"timestamp":999},{"timestamp":1002}]}`},
		{"sensor_temperature", "min", `{"total":2,"data":[{"coretemp_package_id_0":40,"timestamp":999},{"timestamp":1002}]}`},
		// ringwatch's own modes; the idle host's bucket has none of these.
		{"cpu_per_core", "", `{"total":1,"data":[{"0":10,"1":20,"timestamp":999}]}`},
		{"cpu_per_core", "max", `{"total":1,"data":[{"0":15,"1":25,"timestamp":999}]}`},
		{"load_avg", "", `{"total":1,"data":[{"load1":1.5,"load15":0.5,"load5":1,"timestamp":999}]}`},
		{"swap_usage", "", `{"total":1,"data":[{"swap_usage":20,"timestamp":999}]}`},
		{"interfaces_speed", "", `{"total":1,"data":[{"eth0":{"download":30,"upload":20},"timestamp":999}]}`},
		{"interfaces_transfer", "", `{"total":1,"data":[{"eth0":{"download":2500,"upload":1500},"timestamp":999}]}`},
	} {
		stat, _ := aggregators.ParseStat(c.stat)
		data, err := k.Aggregate(c.mode, v.Entries(), aggregators.Query{Stat: stat})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(struct {
			Total int   `json:"total"`
			Data  []any `json:"data"`
		}{len(data), data})
		if string(b) != c.want {
			t.Errorf("%s stat=%q:\n got %s\nwant %s", c.mode, c.stat, b, c.want)
		}
	}
	if len(Modes) != 15 {
		t.Fatalf("%d modes, want GoDoxy's 10 and ringwatch's 5", len(Modes))
	}
}

func TestEmptyPeriodAndUnknownMode(t *testing.T) {
	k := Kind()
	for mode := range Modes {
		data, err := k.Aggregate(mode, nil, aggregators.Query{})
		if err != nil || data == nil || len(data) != 0 {
			t.Errorf("%s on an empty period: %v %v, want an empty non-nil list", mode, data, err)
		}
	}
	if _, err := k.Aggregate("cpu", nil, aggregators.Query{}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := k.Aggregate("", nil, aggregators.Query{}); err == nil {
		t.Error("missing mode accepted")
	}
}
