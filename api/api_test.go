package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp keeps one process-wide goroutine that refreshes its Date header,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// and each stopped server's idle-worker cleaner exits on its next 10 s tick.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

// logSink keeps log output for assertions.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var panicky = aggregators.Kind{Name: "panicky", Modes: map[string]aggregators.Mode{
	"boom": func([]aggregators.Entry, aggregators.Query) ([]any, error) { panic("secret internal detail") },
}}

// server starts the API on 127.0.0.1 over a pipeline holding two system_info
// samples of host h1 and returns its base URL.
func server(t *testing.T) (string, *logSink) {
	t.Helper()
	logs := &logSink{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	p := aggregators.NewPipeline([]aggregators.Kind{systeminfo.Kind(), panicky}, nil, nil, log)
	now := time.Now()
	base := now.Unix() / 3 * 3
	for i, cpu := range []int{10, 30} {
		msg := fmt.Sprintf(`{"timestamp":%d,"cpu_average":%d,"memory":{"used":%d}}`, base+int64(i), cpu, 100*(i+1))
		if err := p.Ingest.Ingest("ringwatch.raw.h1.system_info", []byte(msg), nil, now); err != nil {
			t.Fatal(err)
		}
		_ = p.Ingest.Ingest("ringwatch.raw.h1.panicky", []byte(msg), nil, now)
		for _, d := range p.Downsamplers {
			for d.In.Len() > 0 {
				d.Add(<-d.In.C(), now)
			}
		}
	}
	srv := api.New(api.Config{Addr: "127.0.0.1:0", Pipeline: p, OwnHost: "h1", Log: log})
	sup := actors.NewSupervisor(log, actors.DefaultBackoff)
	_ = sup.Start(context.Background(), actors.Spec{Name: "api", Actor: srv})
	t.Cleanup(func() { _ = sup.Stop(context.Background()) })
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("api did not listen")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return "http://" + srv.Addr(), logs
}

func get(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestMetricsResponses(t *testing.T) {
	base, _ := server(t)
	code, h, body := get(t, "GET", base+"/api/v1/metrics/system_info")
	if code != 200 || !strings.Contains(body, `"cpu_average":30,"memory":{"used":200}}`) || h.Get("Cache-Control") != "no-store" ||
		h.Get("Content-Type") != "application/json" {
		t.Fatalf("latest: %d %v %s", code, h, body)
	}
	code, _, body = get(t, "GET", base+"/api/v1/metrics/system_info?period=5m&aggregate=cpu_average")
	start := time.Now().Unix() / 3 * 3
	if want := fmt.Sprintf(`{"total":1,"data":[{"cpu_average":20,"timestamp":%d}]}`, start); code != 200 || body != want {
		t.Fatalf("5m: %d %s, want %s", code, body, want)
	}
	code, _, body = get(t, "GET", base+"/api/v1/metrics/system_info?period=1mo&aggregate=cpu_average&stat=max&agent_name=h1")
	if code != 200 || !strings.Contains(body, `"cpu_average":30`) {
		t.Fatalf("1mo max: %d %s", code, body)
	}
	code, _, body = get(t, "GET", base+"/api/v1/metrics/system_info?period=1h&aggregate=memory_usage&offset=1")
	if code != 200 || body != `{"total":1,"data":[]}` {
		t.Fatalf("offset past the end: %d %s", code, body)
	}
	code, _, body = get(t, "GET", base+"/api/v1/hosts")
	if code != 200 || !strings.HasPrefix(body, `[{"name":"h1","kinds":["panicky","system_info"],"last_seen":`) || !strings.HasSuffix(body, `"online":true}]`) {
		t.Fatalf("hosts: %d %s", code, body)
	}
	code, _, body = get(t, "GET", base+"/healthz")
	if code != 200 || !strings.HasPrefix(body, `{"status":"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
}

func TestBadRequestsGetJSONErrors(t *testing.T) {
	base, _ := server(t)
	for _, c := range []struct {
		method, path string
		code         int
		err          string
	}{
		{"GET", "/api/v1/metrics/system_info?period=1m&aggregate=cpu_average", 400, `invalid period \"1m\": want one of 5m, 15m, 1h, 1d, 1mo`},
		{"GET", "/api/v1/metrics/system_info?period=1H&aggregate=cpu_average", 400, `invalid period \"1H\"`},
		{"GET", "/api/v1/metrics/system_info?period=5m", 400, `aggregate is required with a period`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu", 400, `invalid aggregate \"cpu\": want one of cpu_average, disk_usage`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&stat=p99", 400, `invalid stat \"p99\": want avg, min or max`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&limit=-1", 400, `invalid limit \"-1\"`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&offset=abc", 400, `invalid offset \"abc\"`},
		{"GET", "/api/v1/metrics/system_info?period=5m&aggregate=cpu_average&limit=99999999999", 400, `invalid limit`},
		{"GET", "/api/v1/metrics/system_info?host=nosuch", 404, `unknown host \"nosuch\"`},
		{"GET", "/api/v1/metrics/nosuchkind", 404, `unknown metrics kind \"nosuchkind\"`},
		{"GET", "/api/v2/nothing", 404, `Cannot GET /api/v2/nothing`},
		{"POST", "/api/v1/metrics/system_info", 405, `Method Not Allowed`},
		{"DELETE", "/healthz", 405, `Method Not Allowed`},
	} {
		code, h, body := get(t, c.method, base+c.path)
		if code != c.code || !strings.HasPrefix(body, `{"message":"`) || !strings.Contains(body, `"error":"`+c.err) ||
			!strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s = %d %s; want %d with error %q", c.method, c.path, code, body, c.code, c.err)
		}
	}
}

func TestPanicIsAGeneric500(t *testing.T) {
	base, logs := server(t)
	code, _, body := get(t, "GET", base+"/api/v1/metrics/panicky?period=5m&aggregate=boom")
	if code != 500 || body != `{"message":"internal server error","error":"internal server error"}` {
		t.Fatalf("%d %s", code, body)
	}
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), "handler panicked") {
		t.Fatalf("the panic was not logged:\n%s", logs.String())
	}
}
