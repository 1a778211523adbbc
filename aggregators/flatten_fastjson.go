package aggregators

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// FastFlattener is the same as Flattener, on valyala/fastjson: the sample is
// validated (fastjson.Validate and utf8.Valid: as strict as encoding/json),
// parsed into fastjson's tree, and the tree walked against the layout.
type FastFlattener struct {
	layout   *Layout
	counters []Pattern
	max      int
	intern   map[string][]byte
	// Dropped counts leaves dropped because of MaxNodes or type conflicts.
	Dropped uint64

	p     fastjson.Parser
	grow  bool
	short bool
	vals  *Values
	ts    float64
	hasTS bool
	nLits int
	buf   []byte
}

// NewFastFlattener is NewFlattener's twin.
func NewFastFlattener(layout *Layout, counters []Pattern) *FastFlattener {
	if layout == nil {
		layout = newLayout()
	}
	return &FastFlattener{layout: layout, counters: counters, intern: map[string][]byte{}, max: MaxNodes}
}

// Flatten parses one sample.
func (f *FastFlattener) Flatten(data []byte) (*Values, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("malformed JSON: invalid UTF-8")
	}
	if err := fastjson.ValidateBytes(data); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	root, err := f.p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if root.Type() != fastjson.TypeObject {
		return nil, ErrNotObject
	}
	vals, err := f.walk(root)
	if err != nil {
		return nil, err
	}
	if f.short {
		prev := f.layout
		f.layout = prev.clone()
		f.grow = true
		vals, err = f.walk(root)
		f.grow = false
		if err != nil {
			f.layout = prev
			return nil, err
		}
	}
	if !f.hasTS || f.ts < 0 || f.ts > 1<<40 {
		return nil, ErrNoTimestamp
	}
	vals.Time = int64(f.ts)
	return vals, nil
}

func (f *FastFlattener) walk(root *fastjson.Value) (*Values, error) {
	n := len(f.layout.Nodes)
	f.vals = &Values{Layout: f.layout, Num: make([]float64, n, n+8), Lits: make([]Lit, 0, f.nLits)}
	for i := range f.vals.Num {
		f.vals.Num[i] = math.NaN()
	}
	f.short, f.hasTS = false, false
	defer func() { f.vals = nil }()
	if err := f.value(nil, f.layout.Root, root, nil, 0); err != nil {
		return nil, err
	}
	vals := f.vals
	vals.Layout = f.layout
	f.nLits = len(vals.Lits)
	return vals, nil
}

func nodeType(v *fastjson.Value) (NodeType, bool) {
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
	return 0, false
}

// value walks v into node c (nil: only the depth is checked); parent and key
// say where it sits, to spot the root timestamp.
func (f *FastFlattener) value(parent, c *Node, v *fastjson.Value, key []byte, depth int) error {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth++; depth > maxDepth {
			return ErrTooDeep
		}
		if c != nil {
			f.vals.Num[c.Index] = 1
		}
		o, _ := v.Object()
		next := 0
		var err error
		o.Visit(func(k []byte, cv *fastjson.Value) {
			if err != nil {
				return
			}
			var cc *Node
			if c != nil {
				cc, next = f.member(c, k, cv, next)
			}
			err = f.value(c, cc, cv, k, depth)
		})
		return err
	case fastjson.TypeArray:
		if depth++; depth > maxDepth {
			return ErrTooDeep
		}
		if c != nil {
			f.vals.Num[c.Index] = 1
		}
		elems, _ := v.Array()
		next := 0
		var idx [20]byte
		for i, e := range elems {
			var cc *Node
			if c != nil {
				k := strconv.AppendInt(idx[:0], int64(i), 10)
				if e.Type() == fastjson.TypeObject {
					if name := e.Get("name"); name != nil && name.Type() == fastjson.TypeString {
						k, _ = name.StringBytes()
					}
				}
				cc, next = f.member(c, k, e, next)
			}
			if err := f.value(nil, cc, e, nil, depth); err != nil {
				return err
			}
		}
		return nil
	case fastjson.TypeNumber:
		f.buf = v.MarshalTo(f.buf[:0])
		x, err := parseNumber(f.buf)
		if err != nil {
			return err
		}
		if parent == f.layout.Root && string(key) == "timestamp" {
			f.ts, f.hasTS = x, true
		}
		if c != nil && !math.IsInf(x, 0) {
			f.vals.Num[c.Index] = x
		}
	case fastjson.TypeString:
		if c != nil {
			s, _ := v.StringBytes()
			f.buf = AppendString(f.buf[:0], unsafe.String(unsafe.SliceData(s), len(s)))
			f.lit(c, f.buf)
		}
	case fastjson.TypeTrue:
		if c != nil {
			f.lit(c, []byte("true"))
		}
	case fastjson.TypeFalse:
		if c != nil {
			f.lit(c, []byte("false"))
		}
	}
	return nil
}

func (f *FastFlattener) lit(c *Node, raw []byte) {
	f.vals.Num[c.Index] = 1
	f.vals.Lits = append(f.vals.Lits, Lit{Index: c.Index, Raw: f.internRaw(raw)})
}

func (f *FastFlattener) internRaw(raw []byte) []byte {
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

// member finds or makes the child of n for key, given v's type. It returns
// nil for null values and dropped leaves. next is where in n's children the
// key was found last time; it is tried first.
func (f *FastFlattener) member(n *Node, key []byte, v *fastjson.Value, next int) (*Node, int) {
	t, ok := nodeType(v)
	if !ok {
		return nil, next
	}
	if next < len(n.order) {
		if guess := n.order[next]; guess.Key == string(key) {
			if guess.Type != t {
				f.Dropped++
				return nil, next + 1
			}
			return guess, next + 1
		}
	}
	c := f.child(n, key, t)
	if c != nil {
		for i, o := range n.order {
			if o == c {
				return c, i + 1
			}
		}
	}
	return c, next
}

func (f *FastFlattener) child(parent *Node, key []byte, t NodeType) *Node {
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
	if len(f.layout.Nodes) >= f.max {
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
	f.layout.counter = append(f.layout.counter, c.Counter)
	f.vals.Num = append(f.vals.Num, math.NaN())
	if parent == f.layout.Root && k == "timestamp" && t == Number {
		f.layout.Time = c
	}
	return c
}

// parseNumber reads a validated JSON number exactly as encoding/json does.
func parseNumber(num []byte) (float64, error) {
	var mant uint64
	digits, frac := 0, 0
	neg, plain := false, true
	inFrac := false
	for i, c := range num {
		switch {
		case c == '-' && i == 0:
			neg = true
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if inFrac {
				frac++
			}
		case c == '.':
			inFrac = true
		default: // e, E
			plain = false
		}
		if !plain {
			break
		}
	}
	if plain && digits <= 15 {
		// At most 15 digits: the mantissa and the power of ten are exact in a
		// float64, so one division is correctly rounded, as ParseFloat's own
		// fast path does.
		x := float64(mant) / pow10[frac]
		if neg {
			x = -x
		}
		return x, nil
	}
	x, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("malformed JSON: bad number %q", num)
	}
	return x, nil
}
