package systeminfo

import (
	"testing"
)

func TestParsersRejectMalformedFiles(t *testing.T) {
	var st Stat
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2 3\n", "cpu a b c d e f g h\n", "cpu 1 2 3 4 5 6 7 8\nbtime x\n"} {
		if err := ParseStat([]byte(bad), &st); err == nil {
			t.Errorf("ParseStat(%q) succeeded", bad)
		}
	}
	if _, err := ParseMemInfo([]byte("MemFree: 1 kB\n")); err == nil {
		t.Error("meminfo without MemTotal accepted")
	}
	keep := func([]byte) bool { return true }
	name := func(b []byte) string { return string(b) }
	if _, err := ParseDiskstats([]byte("8 0 sda 1 2 3\n"), keep, name, nil); err == nil {
		t.Error("short diskstats line accepted")
	}
	if _, err := ParseNetDev([]byte("eth0: 1 2 3\n"), keep, name, nil); err == nil {
		t.Error("short net/dev line accepted")
	}
}

func TestMemAvailableFallbackForOldKernels(t *testing.T) {
	m, err := ParseMemInfo([]byte("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"))
	if err != nil || m.Available != 400*1024 || m.Total != 1000*1024 {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestBusyPercentSurvivesACounterGoingDown(t *testing.T) {
	a := CPUTimes{User: 100, Idle: 100, Iowait: 50}
	b := CPUTimes{User: 150, Idle: 150, Iowait: 40} // iowait went down
	if v, ok := busyPercent(a, b); !ok || v != 50 {
		t.Fatalf("busy %v %v, want 50", v, ok)
	}
	if _, ok := busyPercent(a, a); ok {
		t.Fatal("no time passed, yet a figure came out")
	}
}

func TestParseStatReadsEveryCore(t *testing.T) {
	var st Stat
	in := "cpu  10 1 2 100 3 0 0 0 5 0\ncpu0 5 1 1 50 1 0 0 0 5 0\ncpu1 5 0 1 50 2 0 0 0 0 0\nbtime 42\n"
	if err := ParseStat([]byte(in), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Cores) != 2 || st.Total.User != 10 || st.BootTime != 42 || st.Cores[1].Iowait != 2 {
		t.Fatalf("%+v", st)
	}
}
