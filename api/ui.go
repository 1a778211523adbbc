package api

import (
	"embed"
	"encoding/json"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ui holds the dashboard: plain HTML, CSS and JavaScript modules, and the
// vendored chart library (ui/vendor/README.md). No build step.
//
//go:embed ui
var ui embed.FS

// contentSecurityPolicy says that the dashboard loads nothing from outside
// the hub: scripts, styles, images and connections (WebSockets included)
// come from its own origin only, and no other site may frame it.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// uiFiles are the dashboard's files by name under /ui/.
var uiFiles = func() map[string][]byte {
	out := map[string][]byte{}
	_ = fs.WalkDir(ui, "ui", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[strings.TrimPrefix(p, "ui/")], _ = ui.ReadFile(p)
		}
		return nil
	})
	return out
}()

// UIConfig is GET /ui/config.json: what the dashboard needs before it may
// call the API (which may want a token). It needs no token, so it says
// nothing about the hub's data.
type UIConfig struct {
	TokenRequired bool    `json:"token_required"`
	PollInterval  float64 `json:"poll_interval"` // seconds: a host is offline after 3 without a sample
}

// dashboard answers / and /ui/<file>. Neither needs the API token: the
// page asks for it and sends it with every API call.
func (s *Server) dashboard(c *fiber.Ctx) error {
	name := "index.html"
	if c.Path() != "/" {
		name = strings.TrimPrefix(c.Path(), "/ui/")
	}
	var body []byte
	if name == "config.json" {
		body, _ = json.Marshal(UIConfig{TokenRequired: s.cfg.Token != "", PollInterval: s.cfg.PollInterval.Seconds()})
		c.Set(fiber.HeaderCacheControl, "no-store")
	} else {
		var ok bool
		if body, ok = uiFiles[name]; !ok {
			return notFound("no file %q in the dashboard", name)
		}
		c.Set(fiber.HeaderCacheControl, "no-cache") // revalidated: a new binary serves new files
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderContentSecurityPolicy, contentSecurityPolicy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	return c.Send(body)
}

// dashboardPath says whether a request is for the dashboard's files.
func dashboardPath(p string) bool { return p == "/" || strings.HasPrefix(p, "/ui/") }
