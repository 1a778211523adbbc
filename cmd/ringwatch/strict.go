package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ringwatch/ringwatch/actors/uptime"
)

// strictConfig checks every key of a config file against the keys ringwatch
// knows: the flags, routes:, agents:, readers: and sites: at the top, and
// each entry's fields below them. A key it does not know (a typo such as
// expect_staus) is an error naming the file, the line and the key, with the
// nearest known key, instead of being ignored.
func strictConfig(path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: want keys and values at the top", path, top.Line)
	}
	topKeys := map[string]bool{}
	for _, o := range options() {
		if o.name != "config" {
			topKeys[o.name] = true
		}
	}
	entries := map[string]map[string]bool{
		"routes": yamlKeys(reflect.TypeFor[uptime.Route]()), "agents": yamlKeys(reflect.TypeFor[identityEntry]()),
		"readers": yamlKeys(reflect.TypeFor[identityEntry]()), "sites": yamlKeys(reflect.TypeFor[identityEntry]()),
	}
	for k := range entries {
		topKeys[k] = true
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		if !topKeys[key.Value] {
			return unknownKey(path, key, "", topKeys)
		}
		fields, ok := entries[key.Value]
		if !ok || val.Kind != yaml.SequenceNode {
			continue // a flag's value, or a list the decoder will refuse itself
		}
		for j, item := range val.Content {
			if item.Kind != yaml.MappingNode {
				continue
			}
			for k := 0; k+1 < len(item.Content); k += 2 {
				if f := item.Content[k]; !fields[f.Value] {
					return unknownKey(path, f, fmt.Sprintf(" in %s[%d]", key.Value, j), fields)
				}
			}
		}
	}
	return nil
}

// yamlKeys are the yaml names of a struct's fields.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func unknownKey(path string, key *yaml.Node, where string, known map[string]bool) error {
	msg := fmt.Sprintf("config %s:%d: unknown key %q%s", path, key.Line, key.Value, where)
	if near := nearest(key.Value, known); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return fmt.Errorf("%s", msg)
}

// nearest is the known key closest to k in edit distance, if it is close
// enough to be a typo of it.
func nearest(k string, known map[string]bool) string {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", len(k)/3+2
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
