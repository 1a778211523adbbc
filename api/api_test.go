package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp keeps one process-wide goroutine that refreshes its Date header,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// and each stopped server's idle-worker cleaner exits on its next 10 s tick.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// BenchmarkREST's fasthttp client leaves its idle-connection cleaners,
		// which exit on their own a few seconds later.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"))
}

// twoSamples publishes cpu 10 then 30 for h1 inside one 3 s bucket and
// returns the bucket start.
func twoSamples(h *hub) int64 {
	start := time.Now().Unix() / 3 * 3
	h.sample("h1", start, 10)
	h.sample("h1", start+1, 30)
	return start
}

func TestMetricsResponses(t *testing.T) {
	h := startHub(t, nil)
	start := twoSamples(h)
	code, hd, body := h.get("GET", "/api/v1/metrics/system_info")
	if want := fmt.Sprintf(`{"timestamp":%d,"cpu_average":30,"memory":{"used":3000},"disks":{},"sensors":[]}`, start+1); code != 200 || body != want ||
		hd.Get("Cache-Control") != "no-store" || hd.Get("Content-Type") != "application/json" {
		t.Fatalf("latest: %d %v %s", code, hd, body)
	}
	code, _, body = h.get("GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average")
	if want := fmt.Sprintf(`{"total":1,"data":[{"cpu_average":20,"timestamp":%d}]}`, start); code != 200 || body != want {
		t.Fatalf("5m: %d %s, want %s", code, body, want)
	}
	for stat, want := range map[string]string{"min": `"cpu_average":10`, "max": `"cpu_average":30`, "avg": `"cpu_average":20`} {
		code, _, body = h.get("GET", "/api/v1/metrics/system_info?period=1mo&aggregate=cpu_average&agent_name=h1&stat="+stat)
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("1mo stat=%s: %d %s", stat, code, body)
		}
	}
	code, _, body = h.get("GET", "/api/v1/metrics/system_info?period=1h&aggregate=memory_usage&offset=1")
	if code != 200 || body != `{"total":1,"data":[]}` {
		t.Fatalf("offset past the end: %d %s", code, body)
	}
	code, _, body = h.get("GET", "/api/v1/hosts")
	if code != 200 || !strings.HasPrefix(body, `[{"name":"h1","display_name":"h1","kinds":["system_info"],"last_seen":`) || !strings.HasSuffix(body, `"online":true}]`) {
		t.Fatalf("hosts: %d %s", code, body)
	}
	code, _, body = h.get("GET", "/healthz")
	if code != 200 || !strings.HasPrefix(body, `{"status":"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
	// Before the first uptime sample (no routes: none is ever published),
	// REST says what GoDoxy says, empty statuses (and so do sockets).
	before := time.Now().Unix()
	code, _, body = h.get("GET", "/api/v1/metrics/uptime")
	var empty struct {
		Statuses  map[string]any `json:"statuses"`
		Timestamp int64          `json:"timestamp"`
	}
	if code != 200 || !strings.HasPrefix(body, `{"statuses":{},"timestamp":`) || json.Unmarshal([]byte(body), &empty) != nil ||
		empty.Statuses == nil || empty.Timestamp < before || empty.Timestamp > time.Now().Unix() {
		t.Fatalf("uptime before any sample: %d %s", code, body)
	}
	code, _, body = h.get("GET", "/api/v1/metrics/uptime?period=1h")
	if code != 200 || body != `{"total":0,"data":[]}` {
		t.Fatalf("uptime period before any sample: %d %s", code, body)
	}
}

// TestBadRequestsGetJSONErrors: every request a client can get wrong gets a
// 4xx with a JSON error, never a 500.
func TestBadRequestsGetJSONErrors(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.Token = "s3cret" })
	twoSamples(h)
	auth := []string{"Authorization", "Bearer s3cret"}
	si := "/api/v1/metrics/system_info?"
	long := strings.Repeat("x", 5000)
	for _, c := range []struct {
		method, path string
		header       []string
		code         int
		err          string
	}{
		{"GET", si + "period=1m&aggregate=cpu_average", auth, 400, `invalid period \"1m\": want one of 5m, 15m, 1h, 1d, 1mo`},
		{"GET", si + "period=1H&aggregate=cpu_average", auth, 400, `invalid period \"1H\"`},
		{"GET", si + "period=24h&aggregate=cpu_average", auth, 400, `invalid period`},
		{"GET", si + "period=30d&aggregate=cpu_average", auth, 400, `invalid period`},
		{"GET", si + "period=%20&aggregate=cpu_average", auth, 400, `invalid period`},
		{"GET", si + "period=5m", auth, 400, `aggregate is required with a period`},
		{"GET", si + "period=5m&aggregate=cpu", auth, 400, `invalid aggregate \"cpu\": want one of cpu_average, cpu_per_core, disk_usage`},
		{"GET", si + "period=5m&aggregate=CPU_AVERAGE", auth, 400, `invalid aggregate`},
		{"GET", "/api/v1/metrics/uptime?period=5m&aggregate=cpu_average", auth, 400, `invalid aggregate \"cpu_average\": want one of routes`},
		{"GET", si + "period=5m&aggregate=cpu_average&stat=p99", auth, 400, `invalid stat \"p99\": want avg, min or max`},
		{"GET", si + "period=5m&aggregate=cpu_average&stat=MAX", auth, 400, `invalid stat`},
		{"GET", si + "stat=", auth, 200, ``},
		{"GET", si + "period=5m&aggregate=cpu_average&limit=-1", auth, 400, `invalid limit \"-1\"`},
		{"GET", si + "period=5m&aggregate=cpu_average&limit=abc", auth, 400, `invalid limit \"abc\"`},
		{"GET", si + "period=5m&aggregate=cpu_average&limit=99999999999", auth, 400, `invalid limit`},
		{"GET", si + "period=5m&aggregate=cpu_average&limit=1.5", auth, 400, `invalid limit`},
		{"GET", si + "period=5m&aggregate=cpu_average&offset=-3", auth, 400, `invalid offset \"-3\"`},
		{"GET", si + "period=5m&aggregate=cpu_average&offset=abc", auth, 400, `invalid offset`},
		{"GET", si + "period=5m&aggregate=cpu_average&offset=1e3", auth, 400, `invalid offset`},
		{"GET", si + "host=nosuch", auth, 404, `unknown host \"nosuch\"`},
		{"GET", si + "agent_name=nosuch", auth, 404, `unknown host \"nosuch\"`},
		{"GET", si + "host=web.example.com", auth, 404, `unknown host \"web.example.com\" (looked up as \"web-example-com\")`},
		{"GET", si + "period=5m&aggregate=cpu_average&host=nosuch", auth, 404, `unknown host`},
		{"GET", "/api/v1/metrics/uptime?host=ghost", auth, 404, `unknown host`},
		{"GET", "/api/v1/metrics/nosuchkind", auth, 404, `unknown metrics kind \"nosuchkind\"`},
		{"GET", "/api/v1/metrics/all_system_info", auth, 400, `all_system_info is WebSocket only`},
		{"GET", "/api/v1/stream", auth, 400, `subject is required`},
		{"GET", "/api/v1/stream?subject=ringwatch.>", auth, 400, `only ringwatch.raw.\u003e and ringwatch.agg.\u003e subjects`},
		{"GET", "/api/v1/stream?subject=_INBOX.x", auth, 400, `only ringwatch.raw`},
		{"GET", "/api/v1/stream?subject=ringwatch.raw.>.x", auth, 400, `'\u003e' must be the last token`},
		{"GET", "/api/v1/stream?subject=ringwatch.raw..x", auth, 400, `empty token`},
		{"GET", "/api/v1/stream?subject=ringwatch.raw.h*.x", auth, 400, `wildcards must be whole tokens`},
		{"GET", "/api/v1/stream?subject=ringwatch.raw.>", auth, 400, `the stream is WebSocket only`},
		{"GET", si, nil, 401, `missing or wrong API token`},
		{"GET", si, []string{"Authorization", "Bearer wrong"}, 401, `missing or wrong API token`},
		{"GET", si, []string{"Authorization", "s3cret"}, 401, `missing or wrong API token`},
		{"GET", si + "token=s3cret", nil, 401, `missing or wrong API token`}, // ?token= is for WebSockets only
		{"GET", "/api/v1/hosts", nil, 401, `missing or wrong API token`},
		{"GET", "/api/v1/openapi.yaml", nil, 401, `missing or wrong API token`},
		{"GET", "/metrics", nil, 401, `missing or wrong API token`},
		{"GET", "/metrics", []string{"Authorization", "Bearer wrong"}, 401, `missing or wrong API token`},
		{"GET", "/api/v1/stats", nil, 401, `missing or wrong API token`},
		{"GET", "/metrics", auth, 200, ``},
		{"GET", "/api/v1/stats", auth, 200, ``},
		{"GET", si + "period=5m&aggregate=cpu_average&keyword=" + long, auth, 414, `query string of`},
		{"GET", "/api/v2/nothing", auth, 404, `Cannot GET /api/v2/nothing`},
		{"GET", "/api/v1/metrics", auth, 404, `Cannot GET`},
		{"GET", "/nothing-here", auth, 404, `Cannot GET /nothing-here`},
		{"POST", si, auth, 405, `POST is not allowed on /api/v1/metrics/system_info: GET only`},
		{"PUT", "/api/v1/hosts", auth, 405, `PUT is not allowed on /api/v1/hosts: GET only`},
		{"DELETE", "/healthz", nil, 405, `DELETE is not allowed on /healthz: GET only`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&host=" + long[:200], auth, 404, `unknown host`},
	} {
		code, hd, body := h.get(c.method, c.path, c.header...)
		if c.code == 200 {
			if code != 200 {
				t.Errorf("%s %s = %d %s; want 200", c.method, c.path, code, body)
			}
			continue
		}
		if code != c.code || !strings.HasPrefix(body, `{"message":"`) || !strings.Contains(body, `"error":"`) || !strings.Contains(body, c.err) ||
			!strings.HasPrefix(hd.Get("Content-Type"), "application/json") {
			t.Errorf("%s %.80s = %d %.200s; want %d with error %q", c.method, c.path, code, body, c.code, c.err)
		}
	}
	if code, _, _ := h.get("GET", "/healthz"); code != 200 {
		t.Errorf("healthz needs no token, got %d", code)
	}
}

func TestPanicIsAGeneric500(t *testing.T) {
	h := startHub(t, nil)
	h.publish("ringwatch.raw.h1.panicky", fmt.Sprintf(`{"timestamp":%d}`, time.Now().Unix()))
	waitFor(t, func() error {
		if h.p.Latest("h1", "panicky") == nil {
			return fmt.Errorf("not ingested")
		}
		return nil
	})
	code, _, body := h.get("GET", "/api/v1/metrics/panicky?period=5m&aggregate=boom")
	if code != 500 || body != `{"message":"internal server error","error":"internal server error"}` {
		t.Fatalf("%d %s", code, body)
	}
	if !strings.Contains(h.logs.String(), "secret internal detail") || !strings.Contains(h.logs.String(), "handler panicked") {
		t.Fatalf("the panic was not logged:\n%s", h.logs.String())
	}
}

// TestUptimePagingAndKeyword: reference §4.3's rules over the API: sort by
// alias, keyword filters, total counts after filtering, limit and offset
// slice after sorting.
func TestUptimePagingAndKeyword(t *testing.T) {
	h := startHub(t, nil)
	twoSamples(h)
	ts := time.Now().Unix()
	h.publish("ringwatch.raw.h1.uptime", fmt.Sprintf(`{"statuses":{`+
		`"adguard-home":{"status":"healthy","uptime":1,"latency":2000000,"sleep_in":0},`+
		`"adguard":{"status":"unhealthy","uptime":0,"latency":0,"sleep_in":0},`+
		`"grafana":{"status":"healthy","uptime":1,"latency":1000000,"sleep_in":0}},"timestamp":%d}`, ts))
	waitFor(t, func() error {
		if h.p.Latest("h1", "uptime") == nil {
			return fmt.Errorf("uptime not ingested")
		}
		return nil
	})
	start := ts / 36 * 36
	for q, want := range map[string]string{
		"period=1h&limit=1&keyword=ad":  fmt.Sprintf(`{"total":2,"data":[{"alias":"adguard","uptime":0,"downtime":1,"idle":0,"avg_latency":0,"current_status":"unhealthy","statuses":[{"status":"unhealthy","latency":0,"timestamp":%d}]}]}`, start),
		"period=1h&offset=1&keyword=ad": fmt.Sprintf(`{"total":2,"data":[{"alias":"adguard-home","uptime":1,"downtime":0,"idle":0,"avg_latency":2,"current_status":"healthy","statuses":[{"status":"healthy","latency":2,"timestamp":%d}]}]}`, start),
		"period=1h&keyword=gdr":         `{"total":0,"data":[]}`,
		"period=1h&offset=5":            `{"total":3,"data":[]}`,
	} {
		code, _, body := h.get("GET", "/api/v1/metrics/uptime?"+q)
		if code != 200 || body != want {
			t.Errorf("%s: %d\n got %s\nwant %s", q, code, body, want)
		}
	}
	code, _, body := h.get("GET", "/api/v1/metrics/uptime")
	if code != 200 || !strings.HasPrefix(body, `{"statuses":{"adguard-home":`) {
		t.Errorf("latest uptime: %d %s", code, body)
	}
}
