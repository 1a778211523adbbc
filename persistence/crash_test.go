package persistence_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus/bustest"
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
// completed writes, so the kill lands at a random point of a write (of the
// whole file, or of a journal entry). The state must load every time, with
// every write the child reported done.
func TestKillDuringSnapshotNeverCorrupts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 200 processes")
	}
	dir := t.TempDir()
	path := persistence.Path(dir, "h1", "toy")
	rng := rand.New(rand.NewPCG(1, 2))
	entries := map[int]bool{}
	for round := range 200 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		want := 1 + rng.IntN(20)
		done := int64(-1)
		for n := 0; n < want && lines.Scan(); n++ {
			done, _ = strconv.ParseInt(lines.Text(), 10, 64)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("round %d: no state file: %v", round, err)
		}
		var logs bustest.Writer
		states := persistence.LoadAll(dir, "h1", []aggregators.Kind{toy}, logs.Logger())
		if len(states) != 1 || strings.Contains(logs.String(), "set aside") {
			t.Fatalf("round %d: the state does not load after SIGKILL: %d states\n%s", round, len(states), logs.String())
		}
		st := states[0]
		if st.Last == nil || !strings.Contains(string(st.Last), `"cpu"`) {
			t.Fatalf("round %d: loaded without its last sample", round)
		}
		if acked := 900_000 + 3*done; st.LastTime < acked {
			t.Fatalf("round %d: the child wrote up to the sample of %d, the state holds up to %d", round, acked, st.LastTime)
		}
		entries[st.Journal] = true
	}
	if len(entries) < 5 {
		t.Fatalf("only %d distinct journal lengths across 200 kills: the kills did not land at varied points", len(entries))
	}
}
