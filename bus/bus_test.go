package bus_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTokenMakesOneSubjectToken(t *testing.T) {
	for in, want := range map[string]string{
		"web-01": "web-01", "Web01.Example.COM": "web01-example-com", "a b*c>d": "a-b-c-d",
		"": "unknown", "ümlaut": "-mlaut", "db_2": "db_2",
	} {
		if got := bus.Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
	long := bus.Token(string(make([]byte, 200)))
	if len(long) != bus.MaxTokenLen {
		t.Errorf("a 200-byte name became %d bytes, want %d", len(long), bus.MaxTokenLen)
	}
}

// ValidToken is what ingest asks of every sample's host: it must accept
// exactly the names Token leaves as they are, and allocate nothing.
func TestValidTokenAcceptsWhatTokenLeavesAsItIs(t *testing.T) {
	names := []string{"", "web-01", "Web-01", "db_2", "a.b", "a b", "ümlaut", "x\x00", "unknown", "-", "_",
		strings.Repeat("a", bus.MaxTokenLen), strings.Repeat("a", bus.MaxTokenLen+1), "load-00001", "ok\xff"}
	for c := 0; c < 256; c++ {
		names = append(names, "h"+string(rune(c)), "h"+string([]byte{byte(c)}))
	}
	for _, s := range names {
		if got, want := bus.ValidToken(s), s != "" && bus.Token(s) == s; got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", s, got, want)
		}
	}
	var valid bool
	if n := testing.AllocsPerRun(100, func() { valid = bus.ValidToken("load-00001") }); n != 0 || !valid {
		t.Errorf("ValidToken(\"load-00001\") = %v, allocating %v times a call; want true and 0", valid, n)
	}
}

func TestSubjects(t *testing.T) {
	if s := bus.Raw("h1", "system_info"); s != "ringwatch.raw.h1.system_info" {
		t.Fatal(s)
	}
	if s := bus.Agg("h1", "system_info", "5m"); s != "ringwatch.agg.h1.system_info.5m" {
		t.Fatal(s)
	}
	for subj, ok := range map[string]bool{
		"ringwatch.raw.h1.system_info": true, "ringwatch.raw.h1": false, "ringwatch.raw..x": false,
		"ringwatch.raw.h1.a.b": false, "ringwatch.agg.h1.x.5m": false,
	} {
		if _, _, got := bus.ParseRaw(subj); got != ok {
			t.Errorf("ParseRaw(%q) ok = %v, want %v", subj, got, ok)
		}
	}
}

// TestServerServesInProcessAndTCPWithTheHeader: a message published by an
// in-process connection reaches a TCP subscriber with Ringwatch-Schema: 1.
func TestServerServesInProcessAndTCPWithTheHeader(t *testing.T) {
	srv, err := bus.Start(bus.Options{Addr: "127.0.0.1:0", Log: bustest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if srv.Addr() == "" || srv.Addr() == "127.0.0.1:4222" {
		t.Fatalf("port 0 should pick a free port, got %q", srv.Addr())
	}
	nc, err := nats.Connect("nats://" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("ringwatch.raw.>")
	_ = nc.Flush()
	pub, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("ringwatch.raw.h1.toy", []byte(`{"timestamp":1}`)); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"timestamp":1}` || m.Header.Get(bus.SchemaHeader) != "1" || !bus.SchemaOK(m) {
		t.Fatalf("got %s %v", m.Data, m.Header)
	}
	// The outside subscriber and the three of the test count as connections.
	if st := srv.Stats(); st.Connections != 2 || st.MessagesIn != 1 || st.MessagesOut != 1 {
		t.Fatalf("stats %+v, want 2 connections, 1 message in and 1 out", st)
	}
}

// TestSubscriptionsDeliverAndCountDrops: a handler subscription sees every
// message in order; a channel subscription whose channel is full drops the
// newest messages and counts them.
func TestSubscriptionsDeliverAndCountDrops(t *testing.T) {
	srv := bustest.Server(t)
	pub, sub := bustest.Conn(t, srv, "pub"), bustest.Conn(t, srv, "sub")
	got := make(chan string, 100)
	s1, err := sub.Subscribe("ringwatch.raw.>", func(m *bus.Msg) { got <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Unsubscribe()
	ch := make(chan *bus.Msg, 3)
	s2, err := sub.ChanSubscribe("ringwatch.raw.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Unsubscribe()
	if n := sub.Subscriptions(); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	_ = sub.Flush()
	for i := range 10 {
		if err := pub.Publish("ringwatch.raw.h.k", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	_ = pub.Flush()
	for i := range 10 {
		select {
		case m := <-got:
			if m != strconv.Itoa(i) {
				t.Fatalf("message %d is %q", i, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d never came", i)
		}
	}
	bustest.Eventually(t, 5*time.Second, func() error {
		if d := s2.Dropped(); d != 7 {
			return fmt.Errorf("channel subscription dropped %d, want 7", d)
		}
		return nil
	})
	if m := <-ch; string(m.Data) != "0" {
		t.Fatalf("the channel kept %q first, want the oldest", m.Data)
	}
}

func TestInProcessOnlyOpensNoPort(t *testing.T) {
	srv, err := bus.Start(bus.Options{Log: bustest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if srv.Addr() != "" {
		t.Fatalf("in-process bus listens on %s", srv.Addr())
	}
	if _, err := bus.Start(bus.Options{Addr: "127.0.0.1:notaport"}); err == nil {
		t.Fatal("a bad address was accepted")
	}
}
