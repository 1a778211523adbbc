package api

import (
	"net/url"

	"github.com/gofiber/fiber/v2"
)

// queryValues copies the query string into url.Values for modes; the copy is
// needed because Fiber reuses its buffers after the handler returns.
func queryValues(c *fiber.Ctx) url.Values {
	v := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, val []byte) {
		v.Add(string(k), string(val))
	})
	return v
}
