package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// request sends method to url with headers and returns the status, the
// Content-Type and the body.
func request(t *testing.T, method, url string, headers map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestConfigTypoStopsStartUpAndReload: a typo in a route stops start-up,
// naming the file, the line and the key and suggesting the right one; the
// same typo sent with SIGHUP keeps the old routes.
func TestConfigTypoStopsStartUpAndReload(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("routes:\n  - alias: api\n    url: http://127.0.0.1:1/\n    expect_staus: 500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, nil, "serve", "--config", typo, "--data-dir", dir, "--http-addr", freePort(t))
	_ = c.cmd.Wait() // it stops by itself
	if code := c.cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(c.logs.String(), typo+`:4: unknown key "expect_staus" in routes[0] (did you mean "expect_status"?)`) {
		t.Fatalf("exit %d:\n%s", code, c.logs)
	}

	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("routes:\n  - alias: api\n    url: http://127.0.0.1:1/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	h := startChild(t, nil, "serve", "--config", good, "--data-dir", dir, "--http-addr", addr)
	bustest.Eventually(t, 10*time.Second, func() error {
		if code, _ := httpGet(t, "http://"+addr+"/healthz"); code == 0 {
			return fmt.Errorf("not up")
		}
		return nil
	})
	if err := os.WriteFile(good, []byte("routes:\n  - alias: api\n    url: http://127.0.0.1:1/\n    expect_staus: 500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Process.Signal(syscall.SIGHUP)
	bustest.Eventually(t, 5*time.Second, func() error {
		if logs := h.logs.String(); !strings.Contains(logs, "routes not reloaded; keeping the old ones") || !strings.Contains(logs, "expect_staus") {
			return fmt.Errorf("no refused reload logged:\n%s", logs)
		}
		return nil
	})
}

// TestAPIHardening is the hardening issue's list, against a real hub
// process: the bearer scheme in any case; ?token= refused on REST routes,
// with or without upgrade headers; a foreign Host refused on REST and on
// upgrades (DNS rebinding), loopback ones served; an unknown or wrong
// method answered in JSON; a sample holding 1e999 refused and counted, the
// previous latest still served.
func TestAPIHardening(t *testing.T) {
	dir := t.TempDir()
	seed, pub := nkeyFor(t, dir, "web-01")
	cfg := hubConfig(t, dir, "agents:\n"+agentEntry("web-01", pub))
	h := startSecureHub(t, cfg, "--api-token", "s3cret")
	port := h.base[strings.LastIndexByte(h.base, ':')+1:]
	hosts := h.base + "/api/v1/hosts"
	upgrade := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}

	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if code, _, body := request(t, "GET", hosts, map[string]string{"Authorization": scheme + " s3cret"}); code != 200 {
			t.Fatalf("%s: %d %s", scheme, code, body)
		}
	}
	for _, hdr := range []map[string]string{{}, upgrade} {
		for _, path := range []string{"/api/v1/hosts", "/api/v1/openapi.yaml"} {
			if code, _, body := request(t, "GET", h.base+path+"?token=s3cret", hdr); code != 401 {
				t.Fatalf("?token= on %s with %v: %d %s", path, hdr, code, body)
			}
		}
	}

	for _, host := range []string{"evil.example", "evil.example:" + port} {
		for _, hdr := range []map[string]string{{"Authorization": "Bearer s3cret"}, mergeHeaders(upgrade, map[string]string{"Origin": "http://evil.example"})} {
			hdr = mergeHeaders(hdr, map[string]string{"Host": host})
			path := hosts
			if hdr["Upgrade"] != "" {
				path = h.base + "/api/v1/metrics/system_info?token=s3cret"
			}
			code, ctype, body := request(t, "GET", path, hdr)
			if code != 421 || !strings.HasPrefix(ctype, "application/json") || !strings.Contains(body, "DNS rebinding") {
				t.Fatalf("Host %s %v: %d %s %s", host, hdr, code, ctype, body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		if code, _, body := request(t, "GET", hosts, map[string]string{"Host": host, "Authorization": "Bearer s3cret"}); code != 200 {
			t.Fatalf("Host %s: %d %s", host, code, body)
		}
	}

	for _, m := range []string{"PATCH", "DELETE", "FOO"} {
		code, ctype, body := request(t, m, hosts, map[string]string{"Authorization": "Bearer s3cret"})
		if code != 405 || !strings.HasPrefix(ctype, "application/json") || !strings.Contains(body, `"message":"method not allowed"`) {
			t.Fatalf("%s: %d %s %s", m, code, ctype, body)
		}
	}

	nc, err := nats.Connect("nats://"+h.natsAddr, seedOpt(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	now := time.Now().Unix()
	latest := h.base + "/api/v1/metrics/system_info?host=web-01"
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if err := nc.Publish(bus.Raw("web-01", "system_info"), sample(now-1, 12.5)); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if code, _, body := request(t, "GET", latest, auth); code != 200 || !strings.Contains(body, `"cpu_average":12.5`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if err := nc.Publish(bus.Raw("web-01", "system_info"), fmt.Appendf(nil, `{"timestamp":%d,"cpu_average":1e999}`, now)); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	bustest.Eventually(t, 5*time.Second, func() error {
		_, _, body := request(t, "GET", h.base+"/api/v1/stats", auth)
		if !strings.Contains(body, `"out_of_range":1`) {
			return fmt.Errorf("not counted: %.400s", body)
		}
		return nil
	})
	if code, _, body := request(t, "GET", latest, auth); code != 200 || !strings.Contains(body, `"cpu_average":12.5`) || strings.Contains(body, "1e999") {
		t.Fatalf("latest after 1e999: %d %s", code, body)
	}
}

func mergeHeaders(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
