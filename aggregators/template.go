package aggregators

import (
	"bytes"
	"math"
	"slices"
)

// A template is what a full scan of one sample learned of its text: the
// bytes between its values (keys, punctuation, whitespace, the values it
// kept no series for, and "name" strings, which key array elements) and,
// for each value in between, the node it goes to. A host sends samples of
// the same shape, so the next one is usually those very bytes with other
// values: the flattener then compares the gaps (a memory comparison) and
// parses only the values, instead of scanning every key and looking it up
// (Flattener.quick). Anything else, a key or a gap that differs by one
// byte, a value of another type, falls back to the full scan, which
// validates and keeps the template up to date. The template keeps its own
// copy of the gaps, about half of a sample: the caller's bytes may change.
type template struct {
	layout  *Layout // the layout it was learned with; another one voids it
	gaps    []byte  // every gap, in order, the one after the last value included
	slots   []slot
	present []int32  // the containers the sample holds (their Num is 1)
	lits    [][]byte // the literals' last values, interned, by slot.lit
}

type slot struct {
	gap  int32 // length of the gap before the value
	node int32 // its node; -1 for a root "timestamp" kept in no series
	lit  int32 // a literal's index in template.lits
	kind slotKind
}

type slotKind uint8

const (
	slotNumber slotKind = iota
	slotTimestamp
	slotString
	slotName // a string that keys its array element: it must not change
	slotWord // true or false
)

// recording is a template being learned by a full scan; one per Shared
// serves all its flatteners, which keep an exact copy of what it learned.
type recording struct {
	tpl  template
	from int // where the current gap began
}

func (r *recording) start(l *Layout) {
	r.tpl = template{layout: l, gaps: r.tpl.gaps[:0], slots: r.tpl.slots[:0], present: r.tpl.present[:0], lits: r.tpl.lits[:0]}
	r.from = 0
}

// value records the value at data[start:end] as a slot; lit is a
// literal's value as kept.
func (r *recording) value(data []byte, start, end int, node int32, kind slotKind, lit []byte) {
	r.tpl.gaps = append(r.tpl.gaps, data[r.from:start]...)
	s := slot{gap: int32(start - r.from), node: node, kind: kind, lit: -1}
	if lit != nil {
		s.lit = int32(len(r.tpl.lits))
		r.tpl.lits = append(r.tpl.lits, lit)
	}
	r.tpl.slots = append(r.tpl.slots, s)
	r.from = end
}

// finish ends the recording at the end of data.
func (r *recording) finish(data []byte) {
	r.tpl.gaps = append(r.tpl.gaps, data[r.from:]...)
}

// copyTo sets t to a copy of what r learned, in t's memory when it has
// room (a host whose samples change shape now and then reuses it).
func (r *recording) copyTo(t *template) {
	*t = template{layout: r.tpl.layout, gaps: append(t.gaps[:0], r.tpl.gaps...), slots: append(t.slots[:0], r.tpl.slots...),
		present: append(t.present[:0], r.tpl.present...), lits: append(t.lits[:0], r.tpl.lits...)}
}

// quick parses data with f's template into v; it reports false, leaving
// f and v for a full scan to redo, when data does not fit the template.
func (f *Flattener) quick(data []byte, v *Values) bool {
	t := &f.tpl
	if t.layout != f.layout || t.layout == nil {
		return false
	}
	n := len(f.layout.Nodes)
	*v = Values{Layout: f.layout, Num: slices.Grow(v.Num[:0], n+8)[:n], Lits: v.Lits[:0]}
	for i := range v.Num {
		v.Num[i] = math.NaN()
	}
	for _, c := range t.present {
		v.Num[c] = 1
	}
	f.data, f.vals, f.hasTS = data, v, false
	defer func() { f.data, f.vals = nil, nil }()
	pos, g := 0, 0
	for i := range t.slots {
		s := &t.slots[i]
		gap := t.gaps[g : g+int(s.gap)]
		g += int(s.gap)
		if !bytes.HasPrefix(data[pos:], gap) {
			return false
		}
		f.pos = pos + len(gap)
		if f.pos >= len(data) {
			return false
		}
		switch c, start := data[f.pos], f.pos; s.kind {
		case slotNumber, slotTimestamp:
			if !isNumStart(c) {
				return false
			}
			x, err := f.number()
			if err != nil {
				return false // the full scan reports it
			}
			if s.kind == slotTimestamp {
				f.ts, f.hasTS = x, true
			}
			if s.node >= 0 && !math.IsInf(x, 0) {
				v.Num[s.node] = x
			}
		case slotString, slotName, slotWord:
			if s.kind == slotWord {
				if (c != 't' && c != 'f') || f.literalWord() != nil {
					return false
				}
			} else if c != '"' || f.skipString() != nil {
				return false
			}
			raw, last := data[start:f.pos], &t.lits[s.lit]
			if !bytes.Equal(raw, *last) {
				if s.kind == slotName || len(raw) > MaxLiteral {
					return false // another element, or a literal the full scan counts
				}
				*last = f.internRaw(raw)
			}
			v.Num[s.node] = 1
			v.Lits = append(v.Lits, Lit{Index: int(s.node), Raw: *last})
		}
		pos = f.pos
	}
	return bytes.Equal(data[pos:], t.gaps[g:])
}
