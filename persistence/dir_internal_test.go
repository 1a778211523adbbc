package persistence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

// TestJournalsStayOpenWithinTheirBound: a journal stays open between
// appends, at most maxAppenders of them; what is appended lands in the file
// either way; a journal removed behind the hub's back is created again;
// Remove, RemoveAll and Close release what they held.
func TestJournalsStayOpenWithinTheirBound(t *testing.T) {
	root := t.TempDir()
	before := openFiles(t)
	d, err := OpenDir(root, bustest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	d.maxAppenders = 2
	if err := d.MkdirHost("a"); err != nil {
		t.Fatal(err)
	}
	appendTo := func(name, data string) {
		t.Helper()
		if err := d.Append(name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	content := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	appendTo("a/x", "1")
	appendTo("a/y", "2")
	appendTo("a/z", "3") // past the bound: opened and closed
	appendTo("a/x", "4")
	appendTo("a/z", "5")
	if n := d.OpenJournals(); n != 2 {
		t.Errorf("%d journals open, want 2 (the bound)", n)
	}
	if n := openFiles(t) - before; n != 3 { // the folder and two journals
		t.Errorf("%d more files open than before the folder, want 3", n)
	}
	for name, want := range map[string]string{"a/x": "14", "a/y": "2", "a/z": "35"} {
		if got := content(name); got != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}

	if err := os.Remove(filepath.Join(root, "a/x")); err != nil {
		t.Fatal(err)
	}
	appendTo("a/x", "6")
	if got := content("a/x"); got != "6" {
		t.Errorf("a/x, removed behind the Dir's back, holds %q after the next append, want %q", got, "6")
	}

	if err := d.Remove("a/y"); err != nil {
		t.Fatal(err)
	}
	if n := d.OpenJournals(); n != 1 {
		t.Errorf("%d journals open after one was removed, want 1", n)
	}
	if err := d.RemoveAll("a"); err != nil {
		t.Fatal(err)
	}
	if n := d.OpenJournals(); n != 0 {
		t.Errorf("%d journals open after their folder was removed, want 0", n)
	}
	appendTo("b", "7")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t) - before; n != 0 {
		t.Errorf("%d more files open after Close than before the folder, want 0", n)
	}
}
