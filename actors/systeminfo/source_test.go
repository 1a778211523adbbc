package systeminfo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// problems is a Reporter that records what it is told.
type problems struct {
	mu          sync.Mutex
	warns, errs []string
}

func (p *problems) Warn(src string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warns = append(p.warns, src+": "+err.Error())
}

func (p *problems) Error(src string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, src+": "+err.Error())
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPollReadsTheHostAndComputesRates(t *testing.T) {
	fx := newFixture(t)
	fx.sensor("hwmon0", "coretemp", "1", "Package id 0", 45000, 80000, 105000)
	fx.sensor("hwmon1", "nvme", "1", "Composite", 38500, 0, 0)
	s, err := New(Config{Env: fx.env()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	var p problems
	if _, err := s.PollAt(context.Background(), t0, &p); err != nil {
		t.Fatal(err)
	}
	// 500 ms later: 25 of 100 ticks busy, 512 KiB read, 1 MiB written, 1000 B in, 500 B out.
	fx.cpu(125, 175)
	fx.disk(2000, 4048)
	fx.net(6000, 7500)
	si, err := s.PollAt(context.Background(), t0.Add(500*time.Millisecond), &p)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.errs) > 0 || len(p.warns) > 0 {
		t.Fatalf("unexpected problems: %v %v", p.errs, p.warns)
	}
	if si.CPUAverage == nil || *si.CPUAverage != 25 || mustJSON(t, si.CPUPerCore) != "[25,25]" {
		t.Fatalf("cpu %v per core %v, want 25 and [25,25]", si.CPUAverage, si.CPUPerCore)
	}
	want := map[string]string{
		"memory":     `{"available":12582912000,"used":4194304000,"total":16777216000,"used_percent":25}`,
		"swap":       `{"total":2097152000,"used":1048576000,"free":1048576000,"used_percent":50}`,
		"disks_io":   `{"md0":{"readCount":10,"writeCount":0,"readBytes":5120,"writeBytes":0,"name":"md0","iops":0,"readSpeed":0,"writeSpeed":0},"nvme0n1":{"readCount":2000,"writeCount":4048,"readBytes":1024000,"writeBytes":2072576,"name":"nvme0n1","iops":6096,"readSpeed":1024000,"writeSpeed":2097152}}`,
		"network":    `{"bytes_sent":7500,"bytes_recv":6000,"upload_speed":1000,"download_speed":2000}`,
		"interfaces": `{"eth0":{"bytes_sent":7500,"bytes_recv":6000,"upload_speed":1000,"download_speed":2000}}`,
		"sensors":    `[{"name":"coretemp_package_id_0","temperature":45,"high":80,"critical":105},{"name":"nvme_composite","temperature":38.5,"high":0,"critical":0}]`,
		"boot_time":  `1795000000`,
	}
	var got map[string]json.RawMessage
	_ = json.Unmarshal([]byte(mustJSON(t, si)), &got)
	for k, w := range want {
		if string(got[k]) != w {
			t.Errorf("%s = %s\nwant %s", k, got[k], w)
		}
	}
	var disks map[string]DiskUsage
	_ = json.Unmarshal(got["disks"], &disks)
	if d, ok := disks["/dev/vda"]; !ok || d.Path != "/" || d.Fstype != "ext4" || d.Total == 0 || len(disks) != 1 {
		t.Errorf("disks = %s; want only /dev/vda at / (tmpfs and nfs left out)", got["disks"])
	}
}

func TestCounterThatGoesDownGivesRateZero(t *testing.T) {
	fx := newFixture(t)
	s, _ := New(Config{Env: fx.env()})
	defer s.Close()
	t0 := time.Now()
	var p problems
	_, _ = s.PollAt(context.Background(), t0, &p)
	fx.disk(10, 20) // device reset
	fx.net(100, 50) // interface re-created
	si, _ := s.PollAt(context.Background(), t0.Add(time.Second), &p)
	if d := si.DisksIO["nvme0n1"]; d.ReadSpeed != 0 || d.WriteSpeed != 0 || d.IOPS != 0 {
		t.Fatalf("disk rates after a reset: %+v", d)
	}
	if si.Network.UploadSpeed != 0 || si.Network.DownloadSpeed != 0 {
		t.Fatalf("network rates after a reset: %+v", si.Network)
	}
}

func TestRatesResumeFromTheLastSampleAfterARestart(t *testing.T) {
	fx := newFixture(t)
	first, _ := New(Config{Env: fx.env()})
	var p problems
	t0 := time.Unix(1_795_000_100, 0)
	last, _ := first.PollAt(context.Background(), t0, &p)
	first.Close()
	raw := mustJSON(t, last)

	fx.net(9000, 11000) // 4000 B in, 4000 B out over the 2 s restart
	second, _ := New(Config{Env: fx.env()})
	defer second.Close()
	if err := second.Restore([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	si, _ := second.PollAt(context.Background(), t0.Add(2*time.Second), &p)
	if si.Network.DownloadSpeed != 2000 || si.Network.UploadSpeed != 2000 {
		t.Fatalf("first rates after restart %+v, want 2000 B/s each way", si.Network)
	}
}

func TestOneFailingSensorDropsOnlyThatSensor(t *testing.T) {
	fx := newFixture(t)
	fx.sensor("hwmon0", "coretemp", "1", "Core 0", 40000, 0, 0)
	fx.sensor("hwmon2", "iwlwifi_1", "1", "", 1, 0, 0)
	// The wifi sensor's input stops reading (like ENODATA from a powered-down
	// radio): here it becomes a folder, which fails every read with EISDIR.
	in := filepath.Join(fx.root, "sys/class/hwmon/hwmon2/temp1_input")
	_ = os.Remove(in)
	_ = os.Mkdir(in, 0o755)
	s, _ := New(Config{Env: fx.env()})
	defer s.Close()
	var p problems
	si, err := s.PollAt(context.Background(), time.Now(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, si.Sensors); got != `[{"name":"coretemp_core_0","temperature":40,"high":0,"critical":0}]` {
		t.Fatalf("sensors = %s", got)
	}
	if len(p.warns) != 1 || !strings.Contains(p.warns[0], "iwlwifi_1") {
		t.Fatalf("warnings = %v, want one about iwlwifi_1", p.warns)
	}
}

func TestMissingKernelFilesLeaveTheRestOfTheSample(t *testing.T) {
	fx := newFixture(t)
	fx.remove("proc/diskstats")
	fx.remove("proc/net/dev")
	s, _ := New(Config{Env: fx.env()})
	defer s.Close()
	var p problems
	si, err := s.PollAt(context.Background(), time.Now(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if si.Memory.Total != 16777216000 || len(si.DisksIO) != 0 || mustJSON(t, si.DisksIO) != "{}" {
		t.Fatalf("memory %+v disks_io %v", si.Memory, si.DisksIO)
	}
	if len(p.errs) != 2 || !strings.Contains(p.errs[0], "diskstats") || !strings.Contains(p.errs[1], "net/dev") {
		t.Fatalf("errors = %v", p.errs)
	}
}

func TestNothingReadableIsAnError(t *testing.T) {
	fx := newFixture(t)
	for _, f := range []string{"proc/stat", "proc/meminfo", "proc/diskstats", "proc/net/dev"} {
		fx.remove(f)
	}
	s, _ := New(Config{Env: fx.env()})
	defer s.Close()
	s.sys.call = func(*unix.Sysinfo_t) error { return errors.New("sysinfo: not here") }
	var p problems
	if _, err := s.PollAt(context.Background(), time.Now(), &p); err == nil {
		t.Fatal("a poll that read nothing succeeded")
	}
}

func TestStuckMountCostsOneTimeoutThenIsSkippedUntilItAnswers(t *testing.T) {
	fx := newFixture(t)
	s, _ := New(Config{Env: fx.env(), DiskTimeout: 50 * time.Millisecond})
	defer s.Close()
	release := make(chan struct{})
	s.fs.statfs = func(path string) (DiskUsage, error) {
		<-release
		return DiskUsage{Total: 10, Used: 5, Free: 5, UsedPercent: 50}, nil
	}
	var p problems
	si, _ := s.PollAt(context.Background(), time.Now(), &p)
	if len(si.Disks) != 0 || len(p.errs) != 1 || !strings.Contains(p.errs[0], "timed out") {
		t.Fatalf("first poll: disks %v errors %v", si.Disks, p.errs)
	}
	si, _ = s.PollAt(context.Background(), time.Now(), &p)
	if len(si.Disks) != 0 || len(p.warns) != 1 || !strings.Contains(p.warns[0], "still blocked") {
		t.Fatalf("second poll: disks %v warnings %v", si.Disks, p.warns)
	}
	close(release)
	bustest.Eventually(t, 5*time.Second, func() error {
		si, _ = s.PollAt(context.Background(), time.Now(), &p)
		if len(si.Disks) != 1 {
			return fmt.Errorf("the mount is not back after its statfs returned: %v", si.Disks)
		}
		return nil
	})
	if fmt.Sprint(si.Disks["/dev/vda"].UsedPercent) != "50" {
		t.Fatalf("disks %v", si.Disks)
	}
}

// TestPollHonoursItsContext: a poll whose context ends (the poller gives it
// one interval) stops waiting for a hung statfs at once, not after
// DiskTimeout, and is abandoned; a poll whose context has already ended
// reads nothing.
func TestPollHonoursItsContext(t *testing.T) {
	fx := newFixture(t)
	s, _ := New(Config{Env: fx.env(), DiskTimeout: time.Hour})
	defer s.Close()
	release := make(chan struct{})
	defer close(release)
	s.fs.statfs = func(string) (DiskUsage, error) {
		<-release
		return DiskUsage{}, nil
	}
	var p problems
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.PollAt(ctx, start, &p)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the poll took %s with a 50 ms context", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if len(p.errs) != 1 || !strings.Contains(p.errs[0], "poll ended with statfs pending on 1 mount(s)") {
		t.Fatalf("errors %v", p.errs)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := s.PollAt(done, time.Now(), &p); !errors.Is(err, context.Canceled) {
		t.Fatalf("a poll with an ended context: %v, want context.Canceled", err)
	}
}

// TestCollectorsReportTheirLastPoll: each collector's figures say what its
// last poll did; a failing one counts its errors and since when it fails.
func TestCollectorsReportTheirLastPoll(t *testing.T) {
	fx := newFixture(t)
	fx.remove("proc/diskstats")
	s, _ := New(Config{Env: fx.env()})
	defer s.Close()
	var p problems
	t0 := time.Now()
	for i := range 3 {
		if _, err := s.PollAt(context.Background(), t0.Add(time.Duration(i)*time.Second), &p); err != nil {
			t.Fatal(err)
		}
	}
	byName := map[string]actors.CollectorStats{}
	for _, c := range s.Collectors() {
		byName[c.Name] = c
	}
	if len(byName) != 7 {
		t.Fatalf("collectors %v, want cpu, meminfo, diskstats, netdev, filesystem, hwmon, sysinfo", byName)
	}
	d := byName["diskstats"]
	if d.Polls != 3 || d.Errors != 3 || !strings.Contains(d.LastError, "no such file or directory") ||
		d.FailingSince < float64(t0.Add(-time.Second).Unix()) || d.FailingSince > float64(time.Now().Unix()+1) {
		t.Fatalf("diskstats %+v", d)
	}
	if c := byName["cpu"]; c.Polls != 3 || c.Errors != 0 || c.LastError != "" || c.FailingSince != 0 || c.LastDuration <= 0 {
		t.Fatalf("cpu %+v", c)
	}
	fx.disk(1, 1)
	if _, err := s.PollAt(context.Background(), t0.Add(3*time.Second), &p); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Collectors() {
		if c.Name == "diskstats" && (c.Errors != 3 || c.LastError != "" || c.FailingSince != 0) {
			t.Fatalf("diskstats after the file came back: %+v", c)
		}
	}
}
