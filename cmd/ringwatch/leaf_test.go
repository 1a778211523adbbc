package main

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// TestRemoteSiteThroughALeafNode: a remote site runs a stock NATS server
// as a leaf node of the hub, with the site's nkey; the site's agents
// connect to it. What the site publishes for its declared hosts reaches the
// hub; what it publishes for any other host is refused at the hub.
func TestRemoteSiteThroughALeafNode(t *testing.T) {
	dir := t.TempDir()
	siteSeedFile, sitePub := nkeyFor(t, dir, "berlin")
	cfg := hubConfig(t, dir, "sites:\n  - name: berlin\n    hosts: [ber-01, ber-02]\n    nkey: "+sitePub+"\n")
	leafAddr := freePort(t)
	h := startSecureHub(t, cfg, "--nats-leaf-addr", leafAddr)

	// The site's NATS server, as `nats-server -c site.conf` runs it with
	//   leafnodes { remotes = [ { url: "nats-leaf://hub:7422", nkey: "<the seed>" } ] }
	seed := strings.TrimSpace(readFile(t, siteSeedFile))
	u, err := url.Parse("nats-leaf://" + leafAddr)
	if err != nil {
		t.Fatal(err)
	}
	siteAddr := freePort(t)
	host, port, _ := strings.Cut(siteAddr, ":")
	p, _ := strconv.Atoi(port)
	site, err := server.NewServer(&server.Options{ServerName: "berlin", Host: host, Port: p, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, Nkey: seed}}}})
	if err != nil {
		t.Fatal(err)
	}
	site.Start()
	t.Cleanup(site.Shutdown)
	bustest.Eventually(t, 10*time.Second, func() error {
		if site.NumLeafNodes() != 1 {
			return fmt.Errorf("the site is not connected to the hub yet")
		}
		return nil
	})

	// An agent at the site, connected to the site's server.
	startChild(t, nil, "agent", "--bus", "nats://"+siteAddr, "--host", "ber-01", "--data-dir", t.TempDir())
	// And someone at the site speaking for a host the site was not given.
	nc, err := nats.Connect("nats://" + siteAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// It publishes on every poll, as a poller would: the hub's interest
	// reaches the site's server some time after the leaf connects, and
	// until then the site drops what nobody there wants. web-01 goes first
	// on the same connection, so once ber-02 has arrived web-01 would have
	// too, had the hub let it in.
	bustest.Eventually(t, 10*time.Second, func() error {
		now := time.Now().Unix()
		if err := nc.Publish(bus.Raw("web-01", "system_info"), sample(now, 99)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(bus.Raw("ber-02", "system_info"), sample(now, 2)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		hosts := hostsOf(t, h.base)
		if !slices.Contains(hosts, "ber-01") || !slices.Contains(hosts, "ber-02") {
			return fmt.Errorf("hosts %v", hosts)
		}
		return nil
	})
	if hosts := hostsOf(t, h.base); slices.Contains(hosts, "web-01") {
		t.Fatalf("the site spoke for a host it was not given: %v", hosts)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
