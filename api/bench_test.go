package api_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// load sends requests to url from workers goroutines for d and returns the
// rate of successful ones. It fails on any status but 200.
func load(b *testing.B, url string, workers int, d time.Duration) float64 {
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var ok atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(url)
			for time.Now().Before(deadline) {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					failed.Store(fmt.Sprintf("%v %d", err, resp.StatusCode()))
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("%s: %v", url, f)
	}
	return float64(ok.Load()) / time.Since(start).Seconds()
}

// BenchmarkREST compares GET ?period=1h&aggregate=cpu_average (100 points)
// with a Fiber handler that returns a fixed body of the same size, driven by
// the same Go client (8 keep-alive connections) against 127.0.0.1, in turns
// within one run. x-fixed is the ratio of their request rates (target: at
// least 0.5). Run with -benchtime 1x.
func BenchmarkREST(b *testing.B) {
	h := startHub(b, nil)
	now := time.Now().Unix() / 36 * 36
	for i := range 100 {
		h.sample("h1", now-36*int64(99-i), float64(i%17)+0.25)
	}
	query := "/api/v1/metrics/system_info?period=1h&aggregate=cpu_average"
	code, _, body := h.get("GET", query)
	if code != 200 || len(body) < 3000 {
		b.Fatalf("%d %d bytes", code, len(body))
	}
	fixedBody := []byte(body)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/fixed", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(fixedBody)
	})
	ln, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	defer h.stop()
	fixedURL := "http://" + ln.Addr().String() + "/fixed"
	realURL := h.base + query
	for b.Loop() {
		var fixed, real float64
		for range 3 {
			fixed += load(b, fixedURL, 8, time.Second)
			real += load(b, realURL, 8, time.Second)
		}
		b.ReportMetric(fixed/3, "fixed-req/s")
		b.ReportMetric(real/3, "cpu1h-req/s")
		b.ReportMetric(real/fixed, "x-fixed")
		b.ReportMetric(float64(len(body)), "body-bytes")
	}
}
