package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

// composeService is what the test reads of a docker-compose.yml service.
type composeService struct {
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
}

// TestDockerComposeLayoutRunsDirectly runs docker-compose.yml's services
// as processes on 127.0.0.1, with the flags and environment the file gives
// them (no Docker engine runs here): the credentials made by the line the
// file documents (agent-key with --seed-out, appended to hub.yaml), the
// volumes' container paths mapped back to their host paths, the published
// ports to free ones, and the service name hub to 127.0.0.1. The hub and
// both agents are served; nobody without a credential gets on the bus.
func TestDockerComposeLayoutRunsDirectly(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	hub, ok := doc.Services["hub"]
	if !ok || len(doc.Services) != 3 {
		t.Fatalf("services %v, want a hub and two agents", doc.Services)
	}

	// The documented line: echo 'agents:' > secrets/hub.yaml, then
	// agent-key per agent, with --seed-out, appended to it.
	project := t.TempDir()
	secrets := filepath.Join(project, "secrets")
	if err := os.MkdirAll(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	hubYAML := bytes.NewBufferString("agents:\n")
	var agents []string
	for name := range doc.Services {
		if name == "hub" {
			continue
		}
		agents = append(agents, name)
		var stderr bytes.Buffer
		if code := run([]string{"agent-key", name, "--seed-out", filepath.Join(secrets, name+".nk")}, nil, hubYAML, &stderr); code != 0 {
			t.Fatalf("agent-key %s: exit %d: %s", name, code, &stderr)
		}
	}
	if err := os.WriteFile(filepath.Join(secrets, "hub.yaml"), hubYAML.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// Addresses: each published port gets a free one on 127.0.0.1, and the
	// service name hub resolves to it.
	ports := map[string]string{} // container port -> host address
	for _, p := range hub.Ports {
		parts := strings.Split(p, ":")
		if len(parts) != 3 || parts[0] != "127.0.0.1" {
			t.Fatalf("hub port %q is not published on the loopback only", p)
		}
		ports[parts[2]] = freePort(t)
	}
	translate := func(s composeService) (args, env []string) {
		mounts := map[string]string{} // container path -> host path
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			src, dst := parts[0], parts[1]
			switch {
			case strings.HasPrefix(src, "./"):
				src = filepath.Join(project, src)
			case !strings.HasPrefix(src, "/"): // a named volume
				src = t.TempDir()
			}
			mounts[dst] = src
		}
		mapValue := func(v string) string {
			for dst, src := range mounts {
				if v == dst || strings.HasPrefix(v, dst+"/") {
					return src + strings.TrimPrefix(v, dst)
				}
			}
			if host, port, err := net.SplitHostPort(v); err == nil && host == "0.0.0.0" {
				if a, ok := ports[port]; ok {
					return a
				}
				t.Fatalf("%s listens on an unpublished port", v)
			}
			return strings.ReplaceAll(v, "nats://hub:4222", "nats://"+ports["4222"])
		}
		for _, a := range s.Command {
			if name, v, ok := strings.Cut(a, "="); ok {
				a = name + "=" + mapValue(v)
			}
			args = append(args, a)
		}
		for k, v := range s.Environment {
			env = append(env, k+"="+mapValue(v))
		}
		return args, env
	}

	args, env := translate(hub)
	h := startChild(t, env, args...)
	base := "http://" + ports["8080"]
	bustest.Eventually(t, 20*time.Second, func() error {
		if code, body := httpGet(t, base+"/healthz"); code != 200 {
			return fmt.Errorf("hub: %d %s; logs:\n%s", code, body, h.logs)
		}
		return nil
	})
	children := map[string]*child{"hub": h}
	for _, name := range agents {
		args, env := translate(doc.Services[name])
		children[name] = startChild(t, env, args...)
	}
	bustest.Eventually(t, 20*time.Second, func() error {
		for name, c := range children {
			if ts, err := fiveMinuteTimes(t, base, name); err != nil || len(ts) == 0 {
				return fmt.Errorf("%s: %v; hosts %v; logs:\n%s", name, err, hostsOf(t, base), c.logs)
			}
		}
		return nil
	})
	if hosts := hostsOf(t, base); !slices.Equal(hosts, []string{"agent-1", "agent-2", "hub"}) {
		t.Fatalf("hosts %v", hosts)
	}
	if nc, err := nats.Connect("nats://"+ports["4222"], nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("an anonymous client got on the compose hub's bus")
	}
	for name, c := range children {
		if code, _ := c.terminate(t); code != 0 {
			t.Fatalf("%s: exit %d; logs:\n%s", name, code, c.logs)
		}
	}
}
