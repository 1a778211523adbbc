package actors_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// TestErrorWindowLineIsBounded: 10,000 different problems in one window
// give one line that names the first MaxDistinct and counts the rest.
func TestErrorWindowLineIsBounded(t *testing.T) {
	logs := &bustest.Writer{}
	w := actors.NewErrorWindow(logs.Logger(), time.Minute)
	w.Warn("dropped message", errors.New("repeated"))
	w.Warn("dropped message", errors.New("repeated"))
	for i := range 10_000 {
		w.Warn("dropped message", fmt.Errorf("ringwatch.raw.fake-%05d.system_info: a new host past --max-hosts", i))
	}
	w.Flush()
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("%d lines, want 1:\n%s", n, out)
	}
	for _, want := range []string{"distinct=20", "others=9981", "total=10002", "repeated (2 times)", "fake-00018", "9981 more of other kinds"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the line lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fake-00019") || len(out) > 4000 {
		t.Fatalf("the line lists more than %d problems (%d bytes)", actors.MaxDistinct, len(out))
	}
}
