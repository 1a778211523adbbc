package persistence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

// openFiles counts the process's open file descriptors on root or what it
// holds.
func openFiles(t *testing.T, root string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && (target == root || strings.HasPrefix(target, root+"/")) {
			n++
		}
	}
	return n
}

// TestJournalsStayOpenWithinTheirBound: a journal stays open between
// appends, at most maxAppenders of them; what is appended lands in the file
// either way; a journal removed behind the hub's back is created again;
// Remove, RemoveAll and Close release what they held.
func TestJournalsStayOpenWithinTheirBound(t *testing.T) {
	root := t.TempDir()
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
	if n := openFiles(t, root); n != 3 { // the folder and two journals
		t.Errorf("%d files open in the folder, want 3 (itself and two journals)", n)
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
	if err := os.RemoveAll(filepath.Join(root, "c")); err != nil {
		t.Fatal(err)
	}
	appendTo("c/w", "8") // a journal in a host folder not made yet: Append makes it
	appendTo("c/w", "9")
	if err := os.RemoveAll(filepath.Join(root, "c")); err != nil { // the folder, behind the Dir's back
		t.Fatal(err)
	}
	appendTo("c/w", "10")
	if got := content("c/w"); got != "10" {
		t.Errorf("c/w, its folder removed behind the Dir's back, holds %q after the next append, want %q", got, "10")
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
	if n := openFiles(t, root); n != 0 {
		t.Errorf("%d files open in the folder after Close, want 0", n)
	}
}

// TestReadFileIntoReusesItsBuffer: a file is read whole into the buffer
// given when it is large enough, into a larger one when not, and refused
// over the limit.
func TestReadFileIntoReusesItsBuffer(t *testing.T) {
	root := t.TempDir()
	want := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(filepath.Join(root, "f"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(root, bustest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	big := make([]byte, 5, 20000)
	got, err := d.ReadFileInto("f", 1<<20, big)
	if err != nil || string(got) != want || &got[0] != &big[:1][0] {
		t.Fatalf("read into a large buffer: %d bytes, err %v, same memory %v", len(got), err, err == nil && &got[0] == &big[:1][0])
	}
	if got, err = d.ReadFileInto("f", 1<<20, make([]byte, 0, 10)); err != nil || string(got) != want {
		t.Fatalf("read into a small buffer: %d bytes, err %v", len(got), err)
	}
	if _, err = d.ReadFileInto("f", 100, big); err == nil {
		t.Fatal("a file over the limit was read")
	}
}
