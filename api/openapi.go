package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// OpenAPI is the API's OpenAPI 3 document (docs/openapi.yaml is a copy).
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(OpenAPI)
}
