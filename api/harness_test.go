package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ringwatch/ringwatch/actors"
	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/actors/uptime"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/api"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// hub is the API over a real pipeline: an embedded bus, the ingest stage and
// the five downsamplers running as actors, and the API on 127.0.0.1.
type hub struct {
	t    testing.TB
	base string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port
	pub  *bus.Conn
	sub  *bus.Conn // the ingest actor's
	p    *pipeline.Pipeline
	srv  *api.Server
	sup  *actors.Supervisor
	logs *bustest.Writer
	stop func()
}

var panicky = aggregators.Kind{Name: "panicky", Modes: map[string]aggregators.Mode{
	"boom": func([]aggregators.Entry, aggregators.Query) ([]any, error) { panic("secret internal detail") },
}}

func startHub(t testing.TB, tune func(*api.Config)) *hub {
	t.Helper()
	logs := &bustest.Writer{}
	log := logs.Logger()
	b, err := bus.Start(bus.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	conn := func(name string) *bus.Conn { return bustest.Conn(t, b, name) }
	h := &hub{t: t, pub: conn("test"), sub: conn("ingest"), logs: logs}
	h.p = pipeline.New([]aggregators.Kind{systeminfo.Kind(), uptime.Kind(), panicky}, h.sub, conn("agg"), log)
	h.sup = actors.NewSupervisor(log, actors.DefaultBackoff)
	cfg := api.Config{Addr: "127.0.0.1:0", Store: h.p, Bus: b, OwnHost: "h1", Log: log,
		PongWait: 5 * time.Second, PingPeriod: time.Second, WriteTimeout: time.Second, CloseWait: time.Second,
		Stats: func() api.Stats {
			st := h.p.Stats()
			bs := b.Stats()
			return api.Stats{Actors: h.sup.Statuses(), Pipeline: &st, Bus: &bs}
		}}
	if tune != nil {
		tune(&cfg)
	}
	h.srv = api.New(cfg)
	if err := h.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = h.sup.Start(ctx, actors.Spec{Name: "bus", Stage: actors.StageBus, Actor: b})
	_ = h.sup.Start(ctx, actors.Spec{Name: "api", Stage: actors.StageAPI, Actor: h.srv})
	for _, sp := range h.p.Specs() {
		_ = h.sup.Start(ctx, sp)
	}
	h.base, h.ws = "http://"+h.srv.Addr(), "ws://"+h.srv.Addr()
	var once sync.Once
	h.stop = func() { once.Do(func() { _ = h.sup.Stop(context.Background()) }) }
	t.Cleanup(h.stop)
	waitFor(t, func() error {
		if h.sub.Subscriptions() == 0 {
			return fmt.Errorf("ingest not subscribed")
		}
		return nil
	})
	_ = h.sub.Flush()
	return h
}

// sample publishes a system_info sample of host and waits until it is served.
func (h *hub) sample(host string, ts int64, cpu float64) {
	h.t.Helper()
	msg := fmt.Sprintf(`{"timestamp":%d,"cpu_average":%v,"memory":{"used":%d},"disks":{},"sensors":[]}`, ts, cpu, int64(cpu*100))
	h.publish("ringwatch.raw."+host+".system_info", msg)
	waitFor(h.t, func() error {
		if l := h.p.Latest(host, "system_info"); l == nil || l.Time != ts {
			return fmt.Errorf("sample %d of %s not ingested", ts, host)
		}
		for _, s := range h.p.Shards {
			if s.In.Len() > 0 {
				return fmt.Errorf("%s busy", s.In.Name())
			}
		}
		return nil
	})
}

func (h *hub) publish(subject, msg string) {
	h.t.Helper()
	if err := h.pub.Publish(subject, []byte(msg)); err != nil {
		h.t.Fatal(err)
	}
	_ = h.pub.Flush()
}

func (h *hub) get(method, path string, header ...string) (int, http.Header, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.base+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1] // Go sends req.Host, not a Host header
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// dial opens a WebSocket; header pairs are added to the request.
func (h *hub) dial(path string, header ...string) (*websocket.Conn, *http.Response, error) {
	hd := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		hd.Set(header[i], header[i+1])
	}
	c, resp, err := websocket.DefaultDialer.Dial(h.ws+path, hd)
	if err == nil {
		h.t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func (h *hub) mustDial(path string) *websocket.Conn {
	h.t.Helper()
	c, resp, err := h.dial(path)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		h.t.Fatalf("dial %s: %v %s", path, err, body)
	}
	return c
}

// relay reads every frame of a stream socket into a channel, once the relay
// delivers what is published on subject: the relay subscribes just after the
// upgrade, so relay publishes probes until one comes through, then a marker,
// and drops the frames up to the marker.
func (h *hub) relay(c *websocket.Conn, subject string) <-chan string {
	h.t.Helper()
	frames := make(chan string, 1024)
	go func() {
		defer close(frames)
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			frames <- string(m)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for through := false; !through; {
		h.publish(subject, `{"probe":true}`)
		select {
		case <-frames:
			through = true
		case <-time.After(20 * time.Millisecond): // not yet subscribed: probe again
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the stream relay delivered nothing within 10 s")
		}
	}
	h.publish(subject, `{"probe":"last"}`)
	for f := range frames {
		if strings.Contains(f, `"probe":"last"`) {
			return frames
		}
	}
	h.t.Fatal("the stream socket closed")
	return nil
}

// next is the next frame of a relay within limit.
func next(frames <-chan string, limit time.Duration) (string, error) {
	select {
	case f, ok := <-frames:
		if !ok {
			return "", errors.New("the socket closed")
		}
		return f, nil
	case <-time.After(limit):
		return "", fmt.Errorf("no frame within %s", limit)
	}
}

// read reads one text frame within limit.
func read(t *testing.T, c *websocket.Conn, limit time.Duration) (string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, msg, err := c.ReadMessage()
	return string(msg), err
}

// stats reads GET /api/v1/stats.
func (h *hub) stats() api.Stats {
	h.t.Helper()
	code, _, body := h.get("GET", "/api/v1/stats")
	var st api.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		h.t.Fatalf("stats: %d %v %s", code, err, body)
	}
	return st
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, cond func() error) {
	t.Helper()
	bustest.Eventually(t, 10*time.Second, cond)
}

func isClose(err error, code int) bool {
	ce, ok := err.(*websocket.CloseError)
	return ok && ce.Code == code
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
