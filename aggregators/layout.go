package aggregators

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
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

// MaxNodes bounds the series of one (host, kind). Leaves past it are dropped and
// counted, so a publisher with ever-changing keys cannot grow the hub without end.
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
	return &Layout{Root: root, Nodes: []*Node{root}}
}

// clone deep-copies l so the copy can grow while readers keep l.
func (l *Layout) clone() *Layout {
	c := &Layout{Nodes: make([]*Node, len(l.Nodes), len(l.Nodes)+16)}
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
	Time       int64 // Unix seconds
	Layout     *Layout
	Num        []float64
	Lits       []Lit
}

// Lit is one literal node's raw JSON value.
type Lit struct {
	Index int
	Raw   []byte
}

// Errors a sample can be rejected with.
var (
	ErrNotObject   = errors.New("sample is not a JSON object")
	ErrNoTimestamp = errors.New(`sample has no numeric top-level "timestamp"`)
)

// Flattener turns one (host, kind)'s JSON samples into Values, growing the
// layout as new keys appear. It belongs to one goroutine.
type Flattener struct {
	layout   *Layout
	counters []Pattern
	parser   fastjson.Parser
	intern   map[string][]byte
	// Dropped counts leaves dropped because of MaxNodes or type conflicts.
	Dropped uint64

	grow  bool
	short bool // a key was missing and grow was off
	vals  *Values
}

// NewFlattener starts from layout (nil for an empty one); counters name the
// cumulative series.
func NewFlattener(layout *Layout, counters []Pattern) *Flattener {
	if layout == nil {
		layout = newLayout()
	}
	return &Flattener{layout: layout, counters: counters, intern: map[string][]byte{}}
}

// Layout is the current layout. It is immutable; later growth replaces it.
func (f *Flattener) Layout() *Layout { return f.layout }

// Flatten parses data and flattens it.
func (f *Flattener) Flatten(data []byte) (*Values, error) {
	v, err := f.parser.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return f.FlattenValue(v)
}

// FlattenValue flattens an already parsed sample.
func (f *Flattener) FlattenValue(v *fastjson.Value) (*Values, error) {
	if v.Type() != fastjson.TypeObject {
		return nil, ErrNotObject
	}
	ts := v.Get("timestamp")
	if ts == nil || ts.Type() != fastjson.TypeNumber {
		return nil, ErrNoTimestamp
	}
	t := ts.GetFloat64()
	if math.IsNaN(t) || t < 0 || t > 1<<40 {
		return nil, ErrNoTimestamp
	}
	f.grow, f.short = false, false
	vals := f.walkAll(v)
	if f.short {
		// New keys: grow a private copy, then publish it by replacing f.layout.
		f.layout = f.layout.clone()
		f.grow = true
		vals = f.walkAll(v)
		f.grow = false
	}
	vals.Time = int64(t)
	return vals, nil
}

func (f *Flattener) walkAll(v *fastjson.Value) *Values {
	n := len(f.layout.Nodes)
	f.vals = &Values{Layout: f.layout, Num: make([]float64, n, n+8)}
	for i := range f.vals.Num {
		f.vals.Num[i] = math.NaN()
	}
	f.walk(f.layout.Root, v)
	vals := f.vals
	vals.Layout = f.layout
	f.vals = nil
	return vals
}

func (f *Flattener) child(parent *Node, key []byte, t NodeType) *Node {
	if c, ok := parent.children[string(key)]; ok {
		if c.Type != t {
			f.Dropped++
			return nil
		}
		return c
	}
	if !f.grow {
		f.short = true
		return nil
	}
	if len(f.layout.Nodes) >= MaxNodes {
		f.Dropped++
		return nil
	}
	k := string(key)
	path := make([]string, len(parent.Path)+1)
	copy(path, parent.Path)
	path[len(parent.Path)] = k
	c := &Node{Index: len(f.layout.Nodes), Type: t, Key: k, Path: path}
	if t == Object || t == Array {
		c.children = map[string]*Node{}
	}
	for _, p := range f.counters {
		if p.match(path) {
			c.Counter = true
			break
		}
	}
	parent.children[k] = c
	parent.order = append(parent.order, c)
	f.layout.Nodes = append(f.layout.Nodes, c)
	f.vals.Num = append(f.vals.Num, math.NaN())
	if parent == f.layout.Root && k == "timestamp" && t == Number {
		f.layout.Time = c
	}
	return c
}

func typeOf(v *fastjson.Value) (NodeType, bool) {
	switch v.Type() {
	case fastjson.TypeObject:
		return Object, true
	case fastjson.TypeArray:
		return Array, true
	case fastjson.TypeNumber:
		return Number, true
	case fastjson.TypeString, fastjson.TypeTrue, fastjson.TypeFalse:
		return Literal, true
	}
	return 0, false // null: absent
}

func (f *Flattener) walk(n *Node, v *fastjson.Value) {
	f.vals.Num[n.Index] = 1
	switch n.Type {
	case Object:
		o, _ := v.Object()
		o.Visit(func(key []byte, cv *fastjson.Value) {
			f.visit(n, key, cv)
		})
	case Array:
		arr, _ := v.Array()
		var idx [20]byte
		for i, ev := range arr {
			key := strconv.AppendInt(idx[:0], int64(i), 10)
			if ev.Type() == fastjson.TypeObject {
				if name := ev.Get("name"); name != nil && name.Type() == fastjson.TypeString {
					key, _ = name.StringBytes()
				}
			}
			f.visit(n, key, ev)
		}
	}
}

func (f *Flattener) visit(parent *Node, key []byte, v *fastjson.Value) {
	t, ok := typeOf(v)
	if !ok {
		return
	}
	c := f.child(parent, key, t)
	if c == nil {
		return
	}
	switch t {
	case Number:
		x := v.GetFloat64()
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return
		}
		f.vals.Num[c.Index] = x
	case Literal:
		f.vals.Num[c.Index] = 1
		f.vals.Lits = append(f.vals.Lits, Lit{Index: c.Index, Raw: f.internRaw(v)})
	default:
		f.walk(c, v)
	}
}

// internRaw returns a stable copy of v's JSON text, shared between samples so
// that unchanged strings (device paths, sensor names) cost no allocation.
func (f *Flattener) internRaw(v *fastjson.Value) []byte {
	var buf [128]byte
	raw := v.MarshalTo(buf[:0])
	if s, ok := f.intern[string(raw)]; ok {
		return s
	}
	if len(f.intern) >= 4096 {
		clear(f.intern)
	}
	s := append([]byte(nil), raw...)
	f.intern[string(s)] = s
	return s
}
