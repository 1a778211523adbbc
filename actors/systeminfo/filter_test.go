package systeminfo

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestWholeDisksGetIOSeriesAndPartitionsDoNot(t *testing.T) {
	for name, want := range map[string]bool{
		"sda": true, "vda": true, "hdb": true, "xvda": true, "sdaa": true,
		"nvme0n1": true, "nvme1n2": true, "mmcblk0": true, "md0": true, "md127": true, "dm-0": true, "dm-12": true,
		"sda1": false, "nvme0n1p1": false, "nvme0c0n1": false, "nvme0": false, "mmcblk0p1": false, "mmcblk0boot0": false,
		"md0p1": false, "loop0": false, "zram0": false, "ram0": false, "sr0": false, "fd0": false, "ab": false,
	} {
		if got := IsWholeDisk(name); got != want {
			t.Errorf("IsWholeDisk(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNetworkExclusion(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		pattern string
		want    []string
	}{
		{"", []string{"eth0"}},              // lo always, veth by default
		{"-", []string{"eth0", "veth1a2b"}}, // only lo
		{"^eth", []string{"veth1a2b"}},      // a user's own pattern
	} {
		s, err := New(Config{Env: fx.env(), NetExclude: c.pattern})
		if err != nil {
			t.Fatal(err)
		}
		var p problems
		si, _ := s.PollAt(context.Background(), time.Now(), &p)
		s.Close()
		var got []string
		for name := range si.Interfaces {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("pattern %q: interfaces %v, want %v", c.pattern, got, c.want)
		}
	}
	if _, err := New(Config{NetExclude: "(["}); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestNetworkFileSystemsOnlyWhenAskedFor(t *testing.T) {
	fx := newFixture(t)
	for _, include := range []bool{false, true} {
		s, _ := New(Config{Env: fx.env(), IncludeNetworkFS: include})
		var mu sync.Mutex
		var asked []string
		s.fs.statfs = func(path string) (DiskUsage, error) { // runs on the collector's goroutines
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, path)
			return DiskUsage{Total: 1}, nil
		}
		var p problems
		si, _ := s.PollAt(context.Background(), time.Now(), &p)
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		_, nas := si.Disks["nas:/export"]
		if nas != include || len(asked) != len(si.Disks) {
			t.Errorf("include=%v: disks %v, statfs on %v", include, si.Disks, asked)
		}
	}
}
