package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

// clusterNode is one hub of a cluster, as a process.
type clusterNode struct {
	*child
	name, base, natsAddr, routeAddr, dir string
	args                                 []string
}

// TestClusterOfThreeHubs is the secured-bus issue's cluster on loopback:
// three hubs joined by authenticated routes, agents with every node's URL.
// Every node's API answers for every host; a node is killed and the agents
// that were on it carry on through the others within 10 s; the node is
// restarted on its data folder and, once it has replayed the stream from
// where its state ended, its 5m rings have no gap over the time it was down.
func TestClusterOfThreeHubs(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster with a node down for 15 s; -short skips it")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "route.secret")
	if err := os.WriteFile(secret, []byte("a long shared route secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agents := []string{"edge-1", "edge-2", "edge-3"}
	cfgText := "agents:\n"
	seeds := map[string]string{}
	for _, a := range agents {
		seed, pub := nkeyFor(t, dir, a)
		seeds[a] = seed
		cfgText += agentEntry(a, pub)
	}
	cfg := hubConfig(t, dir, cfgText)

	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		nodes[i] = &clusterNode{name: fmt.Sprintf("node-%d", i+1), base: "http://" + freePort(t), natsAddr: freePort(t),
			routeAddr: freePort(t), dir: t.TempDir()}
	}
	var urls []string
	for i, n := range nodes {
		var routes []string
		for j, m := range nodes {
			if j != i {
				routes = append(routes, m.routeAddr)
			}
		}
		n.args = []string{"serve", "--config", cfg, "--data-dir", n.dir, "--host", n.name, "--snapshot-interval", "10s",
			"--http-addr", strings.TrimPrefix(n.base, "http://"), "--nats-addr", n.natsAddr,
			"--nats-cluster-addr", n.routeAddr, "--nats-routes", strings.Join(routes, ","), "--nats-cluster-secret-file", secret}
		n.child = startChild(t, nil, n.args...)
		urls = append(urls, "nats://"+n.natsAddr)
	}
	for _, n := range nodes {
		bustest.Eventually(t, 60*time.Second, func() error {
			if code, body := httpGet(t, n.base+"/healthz"); code != 200 {
				return fmt.Errorf("%s: %d %s; logs:\n%s", n.name, code, body, n.logs)
			}
			return nil
		})
	}
	agentProcs := map[string]*child{}
	for _, a := range agents {
		agentProcs[a] = startChild(t, nil, "agent", "--bus", strings.Join(urls, ","), "--host", a, "--data-dir", t.TempDir(), "--nkey-seed", seeds[a])
	}
	t.Cleanup(func() {
		if t.Failed() {
			for a, c := range agentProcs {
				t.Logf("%s:\n%s", a, c.logs)
			}
			for _, n := range nodes {
				t.Logf("%s:\n%s", n.name, n.logs)
			}
		}
	})
	every := append(append([]string{}, agents...), "node-1", "node-2", "node-3")
	served := func(n *clusterNode, since int64) error {
		for _, host := range every {
			ts, err := fiveMinuteTimes(t, n.base, host)
			if err != nil || len(ts) == 0 || ts[len(ts)-1] < since {
				return fmt.Errorf("%s does not serve %s since %d yet: %v %v", n.name, host, since, ts, err)
			}
		}
		return nil
	}
	for _, n := range nodes {
		bustest.Eventually(t, 20*time.Second, func() error { return served(n, 0) })
	}

	// node-3 is killed, once it has every host's state on disk: every
	// agent's samples keep reaching the others.
	down := nodes[2]
	bustest.Eventually(t, 10*time.Second, func() error {
		for _, host := range every {
			if _, err := os.Stat(filepath.Join(down.dir, "metrics", host, "system_info.json.gz")); err != nil {
				return err
			}
		}
		return nil
	})
	if err := down.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = down.cmd.Process.Wait()
	killed := time.Now()
	for _, n := range nodes[:2] {
		bustest.Eventually(t, time.Until(killed.Add(10*time.Second)), func() error {
			for _, a := range agents {
				ts, err := fiveMinuteTimes(t, n.base, a)
				if err != nil || len(ts) == 0 || ts[len(ts)-1] < killed.Unix()+3 {
					return fmt.Errorf("%s: %s's samples stopped at the kill: %v %v", n.name, a, ts, err)
				}
			}
			return nil
		})
	}
	t.Logf("every agent served by the two other nodes %s after the kill", time.Since(killed).Round(time.Millisecond))
	<-time.After(time.Until(killed.Add(15 * time.Second))) // node-3 stays down 15 s: the gap it must fill

	// node-3 comes back on its data folder and catches up from the stream.
	restarted := time.Now()
	down.child = startChild(t, nil, down.args...)
	bustest.Eventually(t, 60*time.Second, func() error {
		for _, a := range agents {
			ts, err := fiveMinuteTimes(t, down.base, a)
			if err != nil {
				return err
			}
			if len(ts) == 0 || ts[0] > killed.Unix() || ts[len(ts)-1] < restarted.Unix()+3 {
				return fmt.Errorf("node-3's 5m ring of %s does not span %d-%d yet: %v", a, killed.Unix(), restarted.Unix(), ts)
			}
			for i := 1; i < len(ts); i++ {
				if ts[i]-ts[i-1] > 6 {
					return fmt.Errorf("node-3's 5m ring of %s has a gap %d-%d (down %d-%d): %v", a, ts[i-1], ts[i], killed.Unix(), restarted.Unix(), ts)
				}
			}
		}
		return nil
	})
	t.Logf("node-3 caught up %s after its restart", time.Since(restarted).Round(time.Millisecond))
	if !strings.Contains(down.logs.String(), "replay over: caught up") {
		t.Fatalf("node-3 did not replay:\n%s", down.logs)
	}
}
