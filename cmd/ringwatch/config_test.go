package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsPrecedenceFlagEnvConfigDefault(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ringwatch.yaml")
	_ = os.WriteFile(cfg, []byte("poll-interval: 5s\nsnapshot-interval: 10m\nhttp-addr: 127.0.0.1:9000\nhost: From.Config\nroutes: []\n"), 0o644)
	env := envOf(map[string]string{
		"RINGWATCH_CONFIG":            cfg,
		"RINGWATCH_SNAPSHOT_INTERVAL": "2m",
		"RINGWATCH_HTTP_ADDR":         "127.0.0.1:9001",
	})
	s, err := parseSettings("serve", []string{"--http-addr", "127.0.0.1:9002"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr != "127.0.0.1:9002" || s.SnapshotInterval != 2*time.Minute || s.PollInterval != 5*time.Second ||
		s.DataDir != "./data" || s.Host != "from-config" || s.ConfigFile != cfg {
		t.Fatalf("%+v", s)
	}
	if s.MaxHosts != 10000 || s.HostRetention != 720*time.Hour || s.MaxSampleBytes != 256<<10 || s.LoadHoldBytes != 512<<20 {
		t.Fatalf("bounds' defaults: %d hosts, %s, %d bytes, %d bytes held", s.MaxHosts, s.HostRetention, s.MaxSampleBytes, s.LoadHoldBytes)
	}
	s, err = parseSettings("serve", []string{"--max-sample-bytes", "1MiB", "--load-hold", "1536MiB"}, envOf(map[string]string{"RINGWATCH_MAX_HOSTS": "50"}), io.Discard)
	if err != nil || s.MaxSampleBytes != 1<<20 || s.MaxHosts != 50 || s.LoadHoldBytes != 1536<<20 {
		t.Fatalf("sizes and counts: %+v %v", s, err)
	}
}

func TestSettingsErrorsNameTheirSource(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(cfg, []byte("pol-interval: 5s\n"), 0o644)
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--poll-interval", "fast"}, nil, `poll-interval (from flag --poll-interval): not a duration`},
		{nil, map[string]string{"RINGWATCH_POLL_INTERVAL": "1ms"}, `poll-interval (from environment RINGWATCH_POLL_INTERVAL): 1ms is below the minimum of 100ms`},
		{[]string{"--config", cfg}, nil, `unknown key "pol-interval"`},
		{[]string{"--log-level", "loud"}, nil, `"loud" is not one of debug, info, warn, error`},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--max-sample-bytes", "lots"}, nil, `max-sample-bytes (from flag --max-sample-bytes): not a size`},
		{[]string{"--max-sample-bytes", "128MiB"}, nil, `134217728 bytes is outside 1024 to 67108864`},
		{[]string{"--max-hosts", "0"}, nil, `max-hosts (from flag --max-hosts): 0 is below the minimum of 1`},
		{[]string{"--load-hold", "1KiB"}, nil, `load-hold (from flag --load-hold): 1024 bytes is outside 1048576 to 68719476736`},
	} {
		_, err := parseSettings("serve", c.args, envOf(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want %q", c.args, c.env, err, c.want)
		}
	}
}

func TestCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, envOf(nil), &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "ringwatch ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, envOf(nil), &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"agent"}, envOf(nil), &out, &errb); code != 1 || !strings.Contains(errb.String(), "--bus is required") {
		t.Fatalf("agent without --bus: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"serve", "--http-addr", "256.1.1.1:1", "--data-dir", t.TempDir()}, envOf(nil), &out, &errb); code != 1 {
		t.Fatalf("serve on an impossible address exited %d: %s", code, errb.String())
	}
}
