package bus_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
)

// BenchmarkConfirmRoundTrip is what an outbox's confirmation (a flush every
// bus.ConfirmEvery) costs: one PING and PONG over TCP to an embedded
// server, client and server in this process, so cpu-ns/op is an upper
// bound of the hub's share. Beside it, x-publish is one 2.7 KB sample
// published the same way, the cost the confirmation adds to.
//
//	go test -run '^$' -bench ConfirmRoundTrip ./bus/
func BenchmarkConfirmRoundTrip(b *testing.B) {
	srv, err := bus.Start(bus.Options{Addr: "127.0.0.1:0", Log: bustest.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect("nats://" + srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.Run("ping", func(b *testing.B) {
		c0 := cpu()
		for b.Loop() {
			if err := nc.FlushTimeout(time.Second); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("x-publish", func(b *testing.B) {
		data := make([]byte, 2700)
		c0 := cpu()
		for b.Loop() {
			if err := nc.Publish("ringwatch.raw.h.system_info", data); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op")
	})
}
