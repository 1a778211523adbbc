package aggregators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// NodeType is the JSON type of a layout node.
type NodeType uint8

// Node types.
const (
	Object  NodeType = iota // a JSON object; its children are its keys
	Array                   // a JSON array; children are keyed by element "name", else by index
	Number                  // a numeric series
	Literal                 // a string or boolean; a bucket keeps the last value
)

// MaxNodes bounds the series of one (host, kind) unless its Kind sets
// MaxSeries. Leaves past it are dropped and counted, so a publisher with
// ever-changing keys cannot grow the hub without end.
const MaxNodes = 4096

// Node is one position in a kind's sample shape.
type Node struct {
	Index    int
	Type     NodeType
	Key      string   // key in the parent (element name or index for arrays)
	Path     []string // keys from the root
	Counter  bool     // cumulative: a bucket reports its last value, not its mean
	children map[string]*Node
	order    []*Node // children in first-seen order
}

// Child returns the child at key, or nil.
func (n *Node) Child(key string) *Node {
	if n == nil {
		return nil
	}
	return n.children[key]
}

// Children lists the children in first-seen order.
func (n *Node) Children() []*Node {
	if n == nil {
		return nil
	}
	return n.order
}

// Layout is the shape of one (host, kind)'s samples: a tree of every key ever
// seen, each with a stable index into bucket and sample vectors. A Layout is
// immutable once published; growth makes a copy (see Flattener).
type Layout struct {
	Root  *Node
	Nodes []*Node // by index
	// Time is the root's "timestamp" node, if seen.
	Time *Node
	// counter[i] is Nodes[i].Counter and number[i] whether Nodes[i] is a
	// Number, kept flat for the per-sample and per-bucket loops.
	counter, number []bool
}

// Lookup returns the node at path, or nil.
func (l *Layout) Lookup(path ...string) *Node {
	if l == nil {
		return nil
	}
	n := l.Root
	for _, k := range path {
		n = n.Child(k)
		if n == nil {
			return nil
		}
	}
	return n
}

func newLayout() *Layout {
	root := &Node{Index: 0, Type: Object, children: map[string]*Node{}}
	return &Layout{Root: root, Nodes: []*Node{root}, counter: []bool{false}, number: []bool{false}}
}

// clone deep-copies l so the copy can grow while readers keep l.
func (l *Layout) clone() *Layout {
	c := &Layout{Nodes: make([]*Node, len(l.Nodes), len(l.Nodes)+16), counter: append([]bool(nil), l.counter...),
		number: append([]bool(nil), l.number...)}
	for i, n := range l.Nodes {
		cn := *n
		if n.children != nil {
			cn.children = make(map[string]*Node, len(n.children))
			cn.order = make([]*Node, 0, len(n.order))
		}
		c.Nodes[i] = &cn
	}
	for i, n := range l.Nodes {
		for _, ch := range n.order {
			cc := c.Nodes[ch.Index]
			c.Nodes[i].children[ch.Key] = cc
			c.Nodes[i].order = append(c.Nodes[i].order, cc)
		}
	}
	c.Root = c.Nodes[0]
	if l.Time != nil {
		c.Time = c.Nodes[l.Time.Index]
	}
	return c
}

// signature identifies l's structure: every node's path, type and counter
// flag, in index order. Two layouts with one signature are interchangeable.
func (l *Layout) signature() string {
	var b []byte
	for _, n := range l.Nodes {
		b = binary.AppendUvarint(b, uint64(len(n.Path)))
		for _, k := range n.Path {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
		}
		c := byte(0)
		if n.Counter {
			c = 1
		}
		b = append(b, byte(n.Type), c)
	}
	return string(b)
}

// Pattern matches node paths; "*" matches any one key.
type Pattern []string

// ParsePatterns splits dotted patterns such as "disks_io.*.readBytes".
func ParsePatterns(ps ...string) []Pattern {
	out := make([]Pattern, len(ps))
	for i, p := range ps {
		out[i] = strings.Split(p, ".")
	}
	return out
}

func (p Pattern) match(path []string) bool {
	if len(p) != len(path) {
		return false
	}
	for i, k := range p {
		if k != "*" && k != path[i] {
			return false
		}
	}
	return true
}

// Values is one sample flattened against a Layout: Num holds each numeric
// node's value (NaN when absent; 1 for a present object or array) and Lits the
// literal nodes' raw JSON. Values are immutable once built and shared by the
// five downsamplers.
type Values struct {
	Host, Kind string
	Key        string // SeriesKey(Host, Kind), when the caller has it at hand
	Time       int64  // Unix seconds
	Sent       int64  // when the publisher sent it, Unix nanoseconds; 0: unknown
	Layout     *Layout
	Num        []float64
	Lits       []Lit
}

// Lit is one literal node's raw JSON value.
type Lit struct {
	Index int
	Raw   []byte
}

// NodeSpec describes one node of a layout for BuildLayout: its path from the
// root (the root's is empty), its type and whether it is a counter.
type NodeSpec struct {
	Path    []string
	Type    NodeType
	Counter bool
}

// BuildLayout rebuilds a layout from its nodes in index order (a state
// file's): the root first, every node after its parent.
func BuildLayout(specs []NodeSpec) (*Layout, error) {
	if len(specs) == 0 || len(specs[0].Path) != 0 || specs[0].Type != Object {
		return nil, errors.New("layout: the first node must be the root object")
	}
	l := newLayout()
	byPath := map[string]*Node{"": l.Root}
	key := func(p []string) string { // unambiguous whatever the keys hold
		var b []byte
		for _, k := range p {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
		}
		return string(b)
	}
	for i, sp := range specs[1:] {
		if sp.Type > Literal {
			return nil, fmt.Errorf("layout: node %d: unknown type %d", i+1, sp.Type)
		}
		parent := byPath[key(sp.Path[:len(sp.Path)-1])]
		if parent == nil || (parent.Type != Object && parent.Type != Array) {
			return nil, fmt.Errorf("layout: node %d (%s): its parent is not an earlier object or array", i+1, strings.Join(sp.Path, "."))
		}
		k := sp.Path[len(sp.Path)-1]
		if parent.children[k] != nil {
			return nil, fmt.Errorf("layout: node %d (%s) appears twice", i+1, strings.Join(sp.Path, "."))
		}
		n := &Node{Index: len(l.Nodes), Type: sp.Type, Key: k, Path: append([]string(nil), sp.Path...), Counter: sp.Counter}
		if sp.Type == Object || sp.Type == Array {
			n.children = map[string]*Node{}
		}
		parent.children[k] = n
		parent.order = append(parent.order, n)
		l.Nodes = append(l.Nodes, n)
		l.counter = append(l.counter, n.Counter)
		l.number = append(l.number, n.Type == Number)
		byPath[key(n.Path)] = n
		if parent == l.Root && k == "timestamp" && sp.Type == Number {
			l.Time = n
		}
	}
	return l, nil
}

// WithAcc returns a bucket from its parts, for a state file's loader.
func WithAcc(start int64, count uint32, acc []Acc, lits []Lit) *Bucket {
	return &Bucket{Start: start, Count: count, Acc: acc, Lits: lits}
}
