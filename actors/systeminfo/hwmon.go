package systeminfo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/common"

	"github.com/ringwatch/ringwatch/actors"
)

// sensorInput is one temperature input found under hwmon or thermal.
type sensorInput struct {
	name           string
	file           *procFile
	high, critical float64
}

// hwmonCollector reads temperatures. Discovery (names, labels, thresholds)
// runs every refresh; a poll reads only the input files. One sensor that
// fails (ENODATA from a powered-down device, EIO) is left out of that sample
// alone and reported as a warning.
type hwmonCollector struct {
	sys     string
	refresh time.Duration
	inputs  []sensorInput
	found   time.Time
}

func newHwmonCollector(env context.Context, refresh time.Duration) *hwmonCollector {
	return &hwmonCollector{sys: envPath(env, common.HostSysEnvKey, "/sys"), refresh: refresh}
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readMilli(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := parseMilli(b)
	if err != nil {
		return 0
	}
	return v
}

// discover lists hwmon temperature inputs (falling back to the older
// device/ sub-folder), or thermal zones when there are none. Names follow
// GoDoxy: the hwmon name, plus "_" and the label in lower case with spaces
// as underscores (coretemp_package_id_0); a thermal zone's type.
func (s *hwmonCollector) discover() []sensorInput {
	for _, in := range s.inputs {
		in.file.Close()
	}
	var out []sensorInput
	files, _ := filepath.Glob(filepath.Join(s.sys, "class/hwmon/hwmon*/temp*_input"))
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join(s.sys, "class/hwmon/hwmon*/device/temp*_input"))
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		base := strings.TrimSuffix(filepath.Base(f), "_input")
		name := readTrim(filepath.Join(dir, "name"))
		if name == "" {
			name = filepath.Base(dir)
		}
		if label := readTrim(filepath.Join(dir, base+"_label")); label != "" {
			name += "_" + strings.ReplaceAll(strings.ToLower(label), " ", "_")
		}
		out = append(out, sensorInput{name: name, file: newProcFile(f),
			high:     readMilli(filepath.Join(dir, base+"_max")),
			critical: readMilli(filepath.Join(dir, base+"_crit"))})
	}
	if len(out) == 0 {
		zones, _ := filepath.Glob(filepath.Join(s.sys, "class/thermal/thermal_zone*"))
		for _, z := range zones {
			name := readTrim(filepath.Join(z, "type"))
			if name == "" {
				continue
			}
			out = append(out, sensorInput{name: name, file: newProcFile(filepath.Join(z, "temp"))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// update reads every temperature input found; one that fails is left out
// of the sample alone and reported as a warning.
func (s *hwmonCollector) update(_ context.Context, p *poll, si *SystemInfo, r actors.Reporter) error {
	if s.found.IsZero() || p.now.Sub(s.found) >= s.refresh {
		s.inputs, s.found = s.discover(), p.now
	}
	for _, in := range s.inputs {
		b, err := in.file.Read()
		if err != nil {
			r.Warn("hwmon", fmt.Errorf("%s: %w", in.name, err))
			continue
		}
		t, err := parseMilli(b)
		if err != nil {
			r.Warn("hwmon", fmt.Errorf("%s: %w", in.name, err))
			continue
		}
		si.Sensors = append(si.Sensors, Sensor{Name: in.name, Temperature: float32(t), High: in.high, Critical: in.critical})
	}
	return nil
}

func (s *hwmonCollector) close() {
	for _, in := range s.inputs {
		in.file.Close()
	}
}

var _ collector = (*hwmonCollector)(nil)
