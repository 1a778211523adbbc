package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/bus/bustest"
)

const childArgsEnv = "RINGWATCH_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	// A test that needs the real binary re-executes the test binary with
	// its arguments in this variable; main's run does the rest.
	if a := os.Getenv(childArgsEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		os.Exit(run(args, os.Getenv, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(cleanAfter{m},
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

// cleanAfter removes the fleet tests' binary once the tests have run.
type cleanAfter struct{ m *testing.M }

func (c cleanAfter) Run() int {
	code := c.m.Run()
	if fleetBin.dir != "" {
		_ = os.RemoveAll(fleetBin.dir)
	}
	return code
}

func testSettings(t *testing.T, dir string) Settings {
	t.Helper()
	s, err := parseSettings("serve", []string{"--data-dir", dir, "--http-addr", "127.0.0.1:0", "--host", "testhost"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startTestHub starts a hub in this process and stops it at cleanup.
func startTestHub(t *testing.T, s Settings, ks []kind) (*hub, *bustest.Writer) {
	t.Helper()
	logs := &bustest.Writer{}
	h, err := startHub(context.Background(), s, ks, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = h.stop(5 * time.Second)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return h, logs
}

// httpGet fetches url; a connection error is reported as status 0.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type page struct {
	Total int              `json:"total"`
	Data  []map[string]any `json:"data"`
}

func getPage(t *testing.T, url string) (page, error) {
	code, body := httpGet(t, url)
	var p page
	if code != 200 {
		return p, fmt.Errorf("%s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return p, err
	}
	return p, nil
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
