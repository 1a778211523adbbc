package api_test

import (
	"strings"
	"testing"

	"github.com/ringwatch/ringwatch/api"
)

// TestDashboardFiles: the dashboard's page and files need no token (the
// page asks for it) and carry a CSP that allows the hub's own origin only;
// config.json says a token is wanted; the API itself still needs it.
func TestDashboardFiles(t *testing.T) {
	h := startHub(t, func(c *api.Config) { c.Token = "s3cret" })
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	for _, c := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", `<script src="/ui/app.js" type="module">`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "function live("},
		{"/ui/style.css", "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/ui/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", "uPlot (v1.6.32)"},
		{"/ui/config.json", "application/json", `{"token_required":true,"poll_interval":1}`},
	} {
		code, hd, body := h.get("GET", c.path)
		if code != 200 || hd.Get("Content-Type") != c.ctype || !strings.Contains(body, c.has) {
			t.Errorf("%s: %d %q, want 200 %q with %q", c.path, code, hd.Get("Content-Type"), c.ctype, c.has)
		}
		if hd.Get("Content-Security-Policy") != csp || hd.Get("X-Frame-Options") != "DENY" || hd.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", c.path, hd)
		}
	}
	if code, _, body := h.get("GET", "/ui/nothing.js"); code != 404 || body != `{"message":"not found","error":"no file \"nothing.js\" in the dashboard"}` {
		t.Errorf("a missing file: %d %s", code, body)
	}
	if code, _, _ := h.get("GET", "/api/v1/hosts"); code != 401 {
		t.Errorf("the API without the token: %d, want 401", code)
	}
	if code, _, _ := h.get("GET", "/ui/app.js", "Host", "evil.example"); code != 421 {
		t.Errorf("the dashboard from a rebinding name: %d, want 421", code)
	}
}
