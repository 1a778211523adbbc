package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ringwatch/ringwatch"

// layer ranks the module's folders: a package may import its own layer and
// the layers below, never one above (docs/ARCHITECTURE.md, "Layers").
func layer(pkg string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	switch top {
	case "bus":
		return 0
	case "aggregators":
		return 1
	case "actors", "api", "persistence":
		return 2
	}
	return 3 // cmd
}

// TestImportsRunOneWay reads the import graph with `go list`, tests
// included, and fails on an edge from a lower layer to a higher one, or on a
// package other than bus importing nats.go or nats-server in its own code
// (tests may be an outside NATS client, as an agent or a subscriber is).
func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	edges := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg, code, tests := parts[0], strings.Fields(parts[1]), strings.Fields(parts[2])
		for _, imp := range code {
			if strings.HasPrefix(imp, "github.com/nats-io/") && pkg != module+"/bus" {
				t.Errorf("%s imports %s: only bus may", pkg, imp)
			}
		}
		for _, imp := range append(code, tests...) {
			if !strings.HasPrefix(imp, module+"/") || imp == pkg {
				continue
			}
			edges++
			if layer(imp) > layer(pkg) {
				t.Errorf("%s (layer %d) imports %s (layer %d): an edge upwards", pkg, layer(pkg), imp, layer(imp))
			}
		}
	}
	if edges < 20 {
		t.Fatalf("only %d edges inside the module: go list output not understood:\n%s", edges, out)
	}
}

// TestBuildsFor32BitMachines type-checks the module, tests included, for
// 32-bit ARM (a Raspberry Pi running a 32-bit system, where an agent is
// often wanted), where an int holds 32 bits: a constant such as 1<<40 that
// reaches an int fails the build there and nowhere else.
func TestBuildsFor32BitMachines(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the module and its dependencies for another architecture; -short skips it")
	}
	cmd := exec.Command("go", "vet", module+"/...")
	cmd.Env = append(os.Environ(), "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=arm go vet: %v\n%s", err, out)
	}
}
