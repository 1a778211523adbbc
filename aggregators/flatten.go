package aggregators

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Errors a sample can be rejected with.
var (
	ErrNotObject   = errors.New("sample is not a JSON object")
	ErrNoTimestamp = errors.New(`sample has no numeric top-level "timestamp"`)
	ErrTooDeep     = errors.New("sample nests deeper than 32 levels")
)

const maxDepth = 32

// Flattener turns one (host, kind)'s JSON samples into Values, growing the
// layout as new keys appear. It belongs to one goroutine.
//
// It scans the JSON text once, strictly (anything encoding/json would reject
// is rejected, and invalid UTF-8 too), and walks the layout alongside:
// samples of one kind repeat their keys in the same order, so each key is
// first compared with the child that followed last time, and only looked up
// by name when that misses.
//
// Why a scanner of our own rather than valyala/fastjson (which persistence
// uses to read state files): measured on the same 1.9 KB sample in one run,
// a flattener on fastjson took 1.9 times as long (10.3 us against 5.5 us),
// because strictness needs fastjson.Validate before its lenient parser, and
// those two alone cost what this whole scan costs (BenchmarkFastjsonFloor).
type Flattener struct {
	layout   *Layout
	counters []Pattern
	max      int // node limit
	shared   *Shared
	// Dropped counts leaves dropped because of MaxNodes or type conflicts;
	// LongLiterals counts string values left out of the sample's buckets
	// for being longer than MaxLiteral.
	Dropped, LongLiterals uint64

	grow   bool
	short  bool // a key was missing and grow was off
	vals   *Values
	data   []byte
	pos    int
	depth  int
	ts     float64
	hasTS  bool
	keyBuf []byte
	tpl    template // what the last full scan learned (see template)
}

// NewFlattener starts from layout (nil for an empty one); counters name the
// cumulative series.
func NewFlattener(layout *Layout, counters []Pattern) *Flattener {
	if layout == nil {
		layout = newLayout()
	}
	return &Flattener{layout: layout, counters: counters, shared: NewShared(), max: MaxNodes}
}

// Shared is what the flatteners of one goroutine share: the literal values
// they have seen (device paths, sensor names) and their layouts, so that
// hosts of the same shape keep one layout between them. It belongs to that
// one goroutine; its tables are bounded (MaxShared entries each).
type Shared struct {
	intern  map[string][]byte
	layouts map[string]*Layout
	rec     recording // the template the current full scan learns
}

// MaxShared bounds each of Shared's tables; a full table starts afresh.
const MaxShared = 4096

// NewShared returns empty tables.
func NewShared() *Shared {
	return &Shared{intern: map[string][]byte{}, layouts: map[string]*Layout{}}
}

// WithShared makes f share sh with the other flatteners of its goroutine,
// and returns f.
func (f *Flattener) WithShared(sh *Shared) *Flattener {
	f.shared = sh
	f.layout = sh.canonical(f.layout)
	return f
}

// Canonical returns the layout of sh with l's structure, registering l if
// there is none: a restored host then shares its layout with live hosts of
// the same shape.
func (sh *Shared) Canonical(l *Layout) *Layout { return sh.canonical(l) }

// canonical returns the layout of sh with l's structure, registering l if
// there is none. Layouts are immutable, so hosts may share one.
func (sh *Shared) canonical(l *Layout) *Layout {
	sig := l.signature()
	if c, ok := sh.layouts[sig]; ok {
		return c
	}
	if len(sh.layouts) >= MaxShared {
		clear(sh.layouts)
	}
	sh.layouts[sig] = l
	return l
}

// WithLimit sets the node limit (0 keeps MaxNodes) and returns f.
func (f *Flattener) WithLimit(n int) *Flattener {
	if n > 0 {
		f.max = n
	}
	return f
}

// Layout is the current layout. It is immutable; later growth replaces it.
func (f *Flattener) Layout() *Layout { return f.layout }

// Flatten parses one sample. It fails on malformed JSON, a sample that is not
// an object, or one without a numeric top-level "timestamp".
func (f *Flattener) Flatten(data []byte) (*Values, error) {
	v := &Values{}
	if err := f.FlattenInto(data, v); err != nil {
		return nil, err
	}
	return v, nil
}

// FlattenInto is Flatten into v, whose slices it reuses: a caller that is
// done with each sample before the next flattens without allocating.
func (f *Flattener) FlattenInto(data []byte, v *Values) error {
	if f.quick(data, v) {
		return f.timestamp(v)
	}
	f.grow = false
	dropped, long := f.Dropped, f.LongLiterals
	if err := f.scan(data, v); err != nil {
		return err
	}
	if f.short {
		// New keys: grow a private copy, then publish it by replacing
		// f.layout, or by the same structure another host already has.
		prev := f.layout
		f.layout = prev.clone()
		f.grow = true
		err := f.scan(data, v)
		f.grow = false
		if err != nil {
			f.layout = prev
			return err
		}
		f.layout = f.shared.canonical(f.layout)
		v.Layout = f.layout
		f.shared.rec.tpl.layout = f.layout
	}
	if f.Dropped == dropped && f.LongLiterals == long {
		f.shared.rec.copyTo(&f.tpl) // the next sample is likely the same text with other values
	} else {
		f.tpl = template{}
	}
	return f.timestamp(v)
}

// timestamp checks the sample's timestamp and sets v.Time.
func (f *Flattener) timestamp(v *Values) error {
	if !f.hasTS || f.ts < 0 || f.ts > 1<<40 {
		return ErrNoTimestamp
	}
	v.Time = int64(f.ts)
	return nil
}

func (f *Flattener) scan(data []byte, v *Values) error {
	n := len(f.layout.Nodes)
	*v = Values{Layout: f.layout, Num: slices.Grow(v.Num[:0], n+8)[:n], Lits: v.Lits[:0]}
	for i := range v.Num {
		v.Num[i] = math.NaN()
	}
	f.vals = v
	f.data, f.pos, f.depth, f.short, f.hasTS = data, 0, 0, false, false
	f.shared.rec.start(f.layout)
	defer func() { f.data, f.vals = nil, nil }()
	f.ws()
	if f.pos >= len(data) || data[f.pos] != '{' {
		if f.pos < len(data) && (data[f.pos] == '[' || data[f.pos] == '"' || isNumStart(data[f.pos]) || data[f.pos] == 't' || data[f.pos] == 'f' || data[f.pos] == 'n') {
			if err := f.skipValue(); err == nil {
				f.ws()
				if f.pos == len(data) {
					return ErrNotObject
				}
			}
		}
		return f.errorf("expected an object")
	}
	if err := f.object(f.layout.Root); err != nil {
		return err
	}
	f.ws()
	if f.pos != len(data) {
		return f.errorf("data after the top-level object")
	}
	f.shared.rec.finish(data)
	v.Layout = f.layout
	return nil
}

func (f *Flattener) errorf(msg string) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", f.pos, msg)
}

func (f *Flattener) ws() {
	for f.pos < len(f.data) {
		switch f.data[f.pos] {
		case ' ', '\t', '\n', '\r':
			f.pos++
		default:
			return
		}
	}
}

func isNumStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// valueType classifies the value at the cursor; ok is false for null.
func (f *Flattener) valueType() (t NodeType, ok bool, err error) {
	if f.pos >= len(f.data) {
		return 0, false, f.errorf("unexpected end")
	}
	switch c := f.data[f.pos]; {
	case c == '{':
		return Object, true, nil
	case c == '[':
		return Array, true, nil
	case c == '"', c == 't', c == 'f':
		return Literal, true, nil
	case c == 'n':
		return 0, false, nil
	case isNumStart(c):
		return Number, true, nil
	}
	return 0, false, f.errorf("unexpected character")
}

// enter opens the object or array at the cursor: it counts the depth (the
// caller undoes that), marks n present, and reports whether the container is
// empty, in which case it is consumed whole.
func (f *Flattener) enter(n *Node, closing byte) (empty bool, err error) {
	f.depth++
	if f.depth > maxDepth {
		return false, ErrTooDeep
	}
	if n != nil {
		f.vals.Num[n.Index] = 1
		f.shared.rec.tpl.present = append(f.shared.rec.tpl.present, int32(n.Index))
	}
	f.pos++ // the opening bracket
	f.ws()
	if f.pos < len(f.data) && f.data[f.pos] == closing {
		f.pos++
		return true, nil
	}
	return false, nil
}

// object parses an object at the cursor into node n (nil: validate only).
func (f *Flattener) object(n *Node) error {
	defer func() { f.depth-- }()
	if empty, err := f.enter(n, '}'); empty || err != nil {
		return err
	}
	next := 0 // position guess in n.order
	for {
		f.ws()
		key, err := f.key()
		if err != nil {
			return err
		}
		f.ws()
		if f.pos >= len(f.data) || f.data[f.pos] != ':' {
			return f.errorf("expected ':'")
		}
		f.pos++
		f.ws()
		var c *Node
		if n != nil {
			c, next = f.member(n, key, next)
		}
		if err := f.value(n, c, key); err != nil {
			return err
		}
		if done, err := f.separator('}'); done || err != nil {
			return err
		}
	}
}

// separator reads what follows a member or element: ',' (more to come) or
// the closing bracket (done).
func (f *Flattener) separator(closing byte) (done bool, err error) {
	f.ws()
	if f.pos >= len(f.data) {
		return false, f.errorf("unterminated object or array")
	}
	switch f.data[f.pos] {
	case ',':
		f.pos++
		return false, nil
	case closing:
		f.pos++
		return true, nil
	}
	return false, f.errorf("expected ',' or '" + string(closing) + "'")
}

// member finds or makes the child of n for key, given the value's type at the
// cursor. It returns nil for null values and dropped leaves. next is where in
// n's children the key was found last time; it is tried first.
func (f *Flattener) member(n *Node, key []byte, next int) (*Node, int) {
	t, ok, err := f.valueType()
	if err != nil || !ok {
		return nil, next
	}
	var guess *Node
	if next < len(n.order) {
		guess = n.order[next]
	}
	if guess != nil && guess.Key == string(key) {
		if guess.Type != t {
			f.Dropped++
			return nil, next + 1
		}
		return guess, next + 1
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

// value parses the value at the cursor into node c (nil: validate only);
// parent and key say where it sits, to spot the root timestamp.
func (f *Flattener) value(parent, c *Node, key []byte) error {
	if f.pos >= len(f.data) {
		return f.errorf("unexpected end")
	}
	switch f.data[f.pos] {
	case '{':
		return f.object(c)
	case '[':
		return f.array(c)
	case '"':
		start := f.pos
		if err := f.skipString(); err != nil {
			return err
		}
		if c != nil {
			f.lit(c, f.data[start:f.pos])
			kind := slotString
			if string(key) == "name" {
				kind = slotName // it may key its array element: part of the shape
			}
			f.recordLit(start, c, kind)
		}
		return nil
	case 't', 'f', 'n':
		start := f.pos
		if err := f.literalWord(); err != nil {
			return err
		}
		if c != nil {
			f.lit(c, f.data[start:f.pos])
			f.recordLit(start, c, slotWord)
		}
		return nil
	}
	start := f.pos
	x, err := f.number()
	if err != nil {
		return err
	}
	if parent == f.layout.Root && string(key) == "timestamp" {
		f.ts, f.hasTS = x, true
		node := int32(-1)
		if c != nil {
			node = int32(c.Index)
		}
		f.shared.rec.value(f.data, start, f.pos, node, slotTimestamp, nil)
	} else if c != nil {
		f.shared.rec.value(f.data, start, f.pos, int32(c.Index), slotNumber, nil)
	}
	if c != nil && !math.IsInf(x, 0) {
		f.vals.Num[c.Index] = x
	}
	return nil
}

// recordLit records the literal value just kept for c (see lit) as a slot
// of the template.
func (f *Flattener) recordLit(start int, c *Node, kind slotKind) {
	if ls := f.vals.Lits; len(ls) > 0 && ls[len(ls)-1].Index == c.Index {
		f.shared.rec.value(f.data, start, f.pos, int32(c.Index), kind, ls[len(ls)-1].Raw)
	}
}

// MaxLiteral bounds a string value (as JSON text) kept in buckets: device
// names and paths, not documents. A longer one stays in the latest sample
// only.
const MaxLiteral = 256

func (f *Flattener) lit(c *Node, raw []byte) {
	if len(raw) > MaxLiteral {
		f.LongLiterals++
		return
	}
	f.vals.Num[c.Index] = 1
	f.vals.Lits = append(f.vals.Lits, Lit{Index: c.Index, Raw: f.internRaw(raw)})
}

// array parses an array into node n. Elements are keyed by their "name"
// member when they are objects that have one, else by their index.
func (f *Flattener) array(n *Node) error {
	defer func() { f.depth-- }()
	if empty, err := f.enter(n, ']'); empty || err != nil {
		return err
	}
	next := 0
	var idx [20]byte
	for i := 0; ; i++ {
		f.ws()
		if f.pos >= len(f.data) {
			return f.errorf("unterminated array")
		}
		var c *Node
		if n != nil {
			key := strconv.AppendInt(idx[:0], int64(i), 10)
			if f.data[f.pos] == '{' {
				if name, ok := f.peekName(); ok {
					key = name
				}
			}
			c, next = f.member(n, key, next)
		}
		if _, _, err := f.valueType(); err != nil {
			return err
		}
		if err := f.value(nil, c, nil); err != nil {
			return err
		}
		if done, err := f.separator(']'); done || err != nil {
			return err
		}
	}
}

// peekName finds the string "name" member of the object at the cursor
// without moving the cursor. Malformed input is left for the real parse.
func (f *Flattener) peekName() ([]byte, bool) {
	save, depth := f.pos, f.depth
	defer func() { f.pos, f.depth = save, depth }()
	f.pos++
	for {
		f.ws()
		if f.pos >= len(f.data) || f.data[f.pos] == '}' {
			return nil, false
		}
		key, err := f.key()
		if err != nil {
			return nil, false
		}
		isName := string(key) == "name"
		f.ws()
		if f.pos >= len(f.data) || f.data[f.pos] != ':' {
			return nil, false
		}
		f.pos++
		f.ws()
		if isName && f.pos < len(f.data) && f.data[f.pos] == '"' {
			raw := f.pos
			name, err := f.key()
			if err != nil {
				return nil, false
			}
			if f.pos-raw-2 != len(name) { // unescaped into keyBuf: keep a copy
				name = append([]byte(nil), name...)
			}
			return name, true
		}
		if f.skipValue() != nil {
			return nil, false
		}
		f.ws()
		if f.pos >= len(f.data) || f.data[f.pos] != ',' {
			return nil, false
		}
		f.pos++
	}
}

// skipValue validates and skips any value.
func (f *Flattener) skipValue() error {
	if _, _, err := f.valueType(); err != nil {
		return err
	}
	return f.value(nil, nil, nil)
}

// key parses a string at the cursor and returns its decoded bytes (valid
// until the next key).
func (f *Flattener) key() ([]byte, error) {
	if f.pos >= len(f.data) || f.data[f.pos] != '"' {
		return nil, f.errorf("expected a string")
	}
	start := f.pos + 1
	if err := f.skipString(); err != nil {
		return nil, err
	}
	raw := f.data[start : f.pos-1]
	if !hasEscape(raw) {
		return raw, nil
	}
	f.keyBuf = unescape(f.keyBuf[:0], raw)
	return f.keyBuf, nil
}

// skipString validates the string at the cursor and moves past it. The
// common case, short and plain ASCII without escapes, takes one tight loop.
func (f *Flattener) skipString() error {
	f.pos++ // opening quote
	d := f.data
	for i := f.pos; i < len(d); i++ {
		c := d[i]
		if c == '"' {
			f.pos = i + 1
			return nil
		}
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			f.pos = i
			break
		}
	}
	for f.pos < len(f.data) {
		c := f.data[f.pos]
		switch {
		case c == '"':
			f.pos++
			return nil
		case c == '\\':
			if f.pos+1 >= len(f.data) {
				return f.errorf("unterminated string")
			}
			switch f.data[f.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				f.pos += 2
			case 'u':
				if f.pos+6 > len(f.data) {
					return f.errorf("short \\u escape")
				}
				for _, h := range f.data[f.pos+2 : f.pos+6] {
					if !isHex(h) {
						return f.errorf("bad \\u escape")
					}
				}
				f.pos += 6
			default:
				return f.errorf("bad escape")
			}
		case c < 0x20:
			return f.errorf("control character in string")
		case c < utf8.RuneSelf:
			f.pos++
		default:
			r, size := utf8.DecodeRune(f.data[f.pos:])
			if r == utf8.RuneError && size == 1 {
				return f.errorf("invalid UTF-8")
			}
			f.pos += size
		}
	}
	return f.errorf("unterminated string")
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (f *Flattener) literalWord() error {
	for _, w := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(f.data[f.pos:], []byte(w)) {
			f.pos += len(w)
			return nil
		}
	}
	return f.errorf("unknown literal")
}

// number validates a JSON number at the cursor and parses it.
func (f *Flattener) number() (float64, error) {
	d, start := f.data, f.pos
	i := f.pos
	neg := false
	if i < len(d) && d[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			mant = mant*10 + uint64(d[i]-'0')
			i++
		}
	default:
		f.pos = i
		return 0, f.errorf("bad number")
	}
	intDigits := i - start
	if neg {
		intDigits--
	}
	frac := 0
	plain := true // no exponent
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			mant = mant*10 + uint64(d[i]-'0')
			i++
		}
		frac = i - j
		if frac == 0 {
			f.pos = i
			return 0, f.errorf("bad number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		plain = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			f.pos = i
			return 0, f.errorf("bad number")
		}
	}
	f.pos = i
	num := d[start:i]
	if plain && intDigits+frac <= 19 && mant <= 1<<53 && frac < len(pow10) {
		// At most 19 digits (mant did not overflow), a mantissa of at most
		// 2^53 and at most 22 decimals: the mantissa and the power of ten
		// are exact in a float64, so one division is correctly rounded, as
		// ParseFloat's own fast path does (Clinger's). Most 16-digit
		// fractions (a shortest float64 has 15 to 17) take it too.
		x := float64(mant) / pow10[frac]
		if neg {
			x = -x
		}
		return x, nil
	}
	x, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
	if errors.Is(err, strconv.ErrRange) {
		// 1e999: encoding/json refuses it, so a sample holding it must not
		// become what the API serves.
		return 0, fmt.Errorf("at byte %d: %s: %w", f.pos, num, ErrOutOfRange)
	}
	if err != nil {
		return 0, f.errorf("bad number")
	}
	return x, nil
}

// ErrOutOfRange is the error of a sample holding a number out of float64's
// range.
var ErrOutOfRange = errors.New("number out of float64 range")

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// unescape decodes a JSON string body (without quotes) that was validated.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hexVal(s[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2 := rune(hexVal(s[i+3 : i+7])); utf16.IsSurrogate(r2) {
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
			}
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // " \ /
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hexVal(h []byte) int {
	v := 0
	for _, c := range h {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		default:
			v |= int(c-'A') + 10
		}
	}
	return v
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
	f.layout.number = append(f.layout.number, t == Number)
	f.vals.Num = append(f.vals.Num, math.NaN())
	if parent == f.layout.Root && k == "timestamp" && t == Number {
		f.layout.Time = c
	}
	return c
}

// internRaw returns a stable copy of a literal's JSON text, shared between
// samples so that unchanged strings (device paths, sensor names) cost no
// allocation.
func (f *Flattener) internRaw(raw []byte) []byte {
	tab := f.shared.intern
	if s, ok := tab[string(raw)]; ok {
		return s
	}
	if len(tab) >= MaxShared {
		clear(tab)
	}
	s := append([]byte(nil), raw...)
	tab[string(s)] = s
	return s
}
