package systeminfo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawRead reads the kernel files one poll depends on, plainly (open, read,
// close), without parsing: the floor a poll is measured against.
type rawRead struct {
	files  []string
	mounts []string
}

func newRawRead(s *Source) *rawRead {
	r := &rawRead{files: []string{"/proc/stat", "/proc/meminfo", "/proc/1/mountinfo", "/proc/diskstats", "/proc/net/dev"}}
	temps, _ := filepath.Glob("/sys/class/hwmon/hwmon*/temp*_input")
	r.files = append(r.files, temps...)
	for _, m := range s.fs.mounts {
		r.mounts = append(r.mounts, m.statPath)
	}
	return r
}

func (r *rawRead) do(b *testing.B) {
	for _, f := range r.files {
		if _, err := os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	var st unix.Statfs_t
	for _, m := range r.mounts {
		if err := unix.Statfs(m, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// preadFloor re-reads the same files through descriptors kept open, as the
// Source does: the lowest cost of getting the bytes at all.
type preadFloor struct {
	files  []*procFile
	mounts []string
}

func newPreadFloor(r *rawRead) *preadFloor {
	f := &preadFloor{mounts: r.mounts}
	for _, name := range r.files {
		if name != "/proc/1/mountinfo" { // the Source caches the mount list
			f.files = append(f.files, newProcFile(name))
		}
	}
	return f
}

func (f *preadFloor) do(b *testing.B) {
	for _, pf := range f.files {
		if _, err := pf.Read(); err != nil {
			b.Fatal(err)
		}
	}
	var st unix.Statfs_t
	for _, m := range f.mounts {
		_ = unix.Statfs(m, &st)
	}
}

// BenchmarkPoll compares one system poll of this host with reading the same
// kernel files raw, alternating the two in one loop so that both see the same
// machine. x-raw is the ratio (target: at most 2). x-pread compares the poll
// with re-reading the same files through open descriptors without parsing,
// the floor of any implementation.
func BenchmarkPoll(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var p problems
	if _, err := s.PollAt(context.Background(), time.Now(), &p); err != nil {
		b.Fatal(err)
	}
	raw := newRawRead(s)
	floor := newPreadFloor(raw)
	b.ReportAllocs()
	var pollT, rawT, floorT time.Duration
	for b.Loop() {
		t0 := time.Now()
		raw.do(b)
		t1 := time.Now()
		floor.do(b)
		t2 := time.Now()
		if _, err := s.PollAt(context.Background(), t2, &p); err != nil {
			b.Fatal(err)
		}
		rawT += t1.Sub(t0)
		floorT += t2.Sub(t1)
		pollT += time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(rawT.Nanoseconds())/n, "raw-ns/op")
	b.ReportMetric(float64(floorT.Nanoseconds())/n, "pread-ns/op")
	b.ReportMetric(float64(pollT.Nanoseconds())/n, "poll-ns/op")
	b.ReportMetric(float64(pollT)/float64(rawT), "x-raw")
	b.ReportMetric(float64(pollT)/float64(floorT), "x-pread")
	if len(p.errs) > 0 {
		b.Fatalf("poll errors: %v", p.errs)
	}
}
