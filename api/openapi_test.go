package api_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ringwatch/ringwatch/api"
)

// TestOpenAPIDocumentsEveryRoute fails when the router has a route the
// OpenAPI document lacks, or when docs/openapi.yaml is not the served copy.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Log: nil})
	for _, r := range srv.App().GetRoutes(true) {
		if r.Method == "HEAD" {
			continue // Fiber adds HEAD for every GET
		}
		path := r.Path
		if i := strings.Index(path, ":"); i >= 0 { // :kind -> {kind}
			path = path[:i] + "{" + path[i+1:] + "}"
		}
		if p, ok := strings.CutSuffix(path, "/*"); ok { // /ui/* -> /ui/{file}
			path = p + "/{file}"
		}
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in the OpenAPI document", r.Method, r.Path)
			continue
		}
		if _, ok := ops[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: the OpenAPI document lacks the method", r.Method, r.Path)
		}
	}
	docs, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil || !bytes.Equal(docs, api.OpenAPI) {
		t.Errorf("docs/openapi.yaml differs from api/openapi.yaml (cp api/openapi.yaml docs/openapi.yaml): %v", err)
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	h := startHub(t, nil)
	code, hd, body := h.get("GET", "/api/v1/openapi.yaml")
	if code != 200 || hd.Get("Content-Type") != "application/yaml" || body != string(api.OpenAPI) {
		t.Fatalf("%d %s %.60s", code, hd.Get("Content-Type"), body)
	}
}
