package uptime

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCheck is one HTTP check against a local keep-alive server.
func BenchmarkCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	rs, err := Validate([]Route{{Alias: "a", URL: srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	c := NewChecker()
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(context.Background(), rs[0]); res.Status != Healthy {
			b.Fatal(res.Reason)
		}
	}
}
