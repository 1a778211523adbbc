package persistence_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/persistence"
)

const childEnv = "RINGWATCH_CRASH_CHILD_DIR"

// childWriter is the child process of TestKillDuringSnapshotNeverCorrupts: it
// writes snapshots of a growing state in a loop, printing a line after each.
func childWriter() int {
	dir := os.Getenv(childEnv)
	p := pipeline.New([]aggregators.Kind{toy}, nil, nil, quiet)
	s := &persistence.Snapshotter{Dir: dir, Interval: time.Hour, Source: p, Log: quiet}
	out := bufio.NewWriter(os.Stdout)
	now := time.Unix(1_000_000, 0)
	for i := int64(0); ; i++ {
		// Vary the size: the ring fills, then keeps moving.
		msg := fmt.Sprintf(`{"timestamp":%d,"cpu":%d,"sent":%d,"dev":{"d%d":{"r":1}}}`, 900_000+3*i, i%100, i, i%7)
		if err := p.IngestNow("ringwatch.raw.h1.toy", []byte(msg), nil, now); err != nil {
			return 1
		}
		if err := s.SnapshotAll(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(out, i)
		_ = out.Flush()
	}
}

// TestKillDuringSnapshotNeverCorrupts kills a child that writes snapshots
// continuously with SIGKILL, 200 times, each after a random number of
// completed writes, so the kill lands at a random point of a write. The
// state file must load every time.
func TestKillDuringSnapshotNeverCorrupts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 200 processes")
	}
	dir := t.TempDir()
	path := persistence.Path(dir, "h1", "toy")
	rng := rand.New(rand.NewPCG(1, 2))
	lastSize := map[int64]bool{}
	for round := range 200 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		want := 1 + rng.IntN(20)
		for n := 0; n < want && lines.Scan(); n++ {
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("round %d: no state file: %v", round, err)
		}
		st, err := persistence.LoadFile(path, "h1", "toy", toy.Counters)
		if err != nil {
			t.Fatalf("round %d: the state file does not load after SIGKILL: %v", round, err)
		}
		if st.Last == nil || !strings.Contains(string(st.Last), `"cpu"`) {
			t.Fatalf("round %d: loaded without its last sample", round)
		}
		fi, _ := os.Stat(path)
		lastSize[fi.Size()] = true
	}
	if len(lastSize) < 10 {
		t.Fatalf("only %d distinct file sizes across 200 kills: the kills did not land at varied points", len(lastSize))
	}
}
