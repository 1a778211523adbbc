package main

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/actors/pipeline"
	"github.com/ringwatch/ringwatch/actors/systeminfo"
	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
	"github.com/ringwatch/ringwatch/bus/bustest"
	"github.com/ringwatch/ringwatch/persistence"
)

// BenchmarkHeapPerHost fills every period of 1,000 realistic hosts (8 cores,
// 4 disks, 3 interfaces, 6 sensors: loadgen's --shape 8,4,3,6) with the
// load generator's back-dated samples (three per bucket, so that minimum,
// mean and maximum differ as in a live hub), and reports the live heap per host
// (target: at most 256 KB) and, for the baseline of the same run, the bytes
// of one sample as published.
//
//	go test -run '^$' -bench HeapPerHost -benchtime 1x ./cmd/ringwatch/
func BenchmarkHeapPerHost(b *testing.B) {
	const hosts = 1000
	fixed, _ := parseShape("8,4,3,6")
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		p := pipeline.New([]aggregators.Kind{systeminfo.Kind()}, nil, nil, bustest.Quiet())
		now := time.Now()
		times := backfillTimes(now.Unix() - 1)
		var buf []byte
		var sampleBytes int
		for i := range hosts {
			h := newSimHost(i, "heap", fixed, 1)
			for _, ts := range times {
				buf = h.appendSample(buf[:0], ts)
				if err := p.IngestNow(h.subject, buf, bus.Header{}, now); err != nil {
					b.Fatal(err)
				}
				sampleBytes = len(buf)
			}
		}
		packed, buckets := 0, 0
		views := map[string]*aggregators.View{}
		for _, per := range aggregators.Periods {
			v := p.View(per, "heap-00001", "system_info")
			if v == nil || v.Len() != 100 {
				b.Fatalf("%s holds %v buckets, want 100", per.Name, v)
			}
			views[per.Name] = v
			for _, bk := range v.Closed {
				packed += bk.PackedBytes()
				buckets++
			}
		}
		file := persistence.EncodeV2(nil, "heap-00001", "system_info", views["5m"].Layout, views, nil, now)
		var gz bytes.Buffer
		if err := persistence.Gzip(&gz, file); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/hosts/1024, "heap-KB/host")
		b.ReportMetric(float64(sampleBytes), "sample-bytes")
		b.ReportMetric(float64(packed)/float64(buckets), "packed-B/bucket")
		b.ReportMetric(float64(gz.Len())/1024, "file-KB/host")
		b.ReportMetric(float64(len(file))/1024, "json-KB/host")
		runtime.KeepAlive(p)
	}
}
