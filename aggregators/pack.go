package aggregators

import (
	"encoding/binary"
	"hash/maphash"
	"math"
)

// A closed bucket is kept packed: a presence bitmap over the layout's
// nodes, then for each present numeric node a tag byte and its values in
// the smallest exact form the tag names. Containers and literals cost only
// their presence bit (their accumulator is the count of samples they were
// present in). A wide bucket's accumulators take 32 bytes per node of the
// layout; a packed one takes a few bytes per numeric series. Packing is
// exact: unpacking gives the same accumulators back, bit for bit.
//
// Layout of the bytes:
//
//	uvarint n (accumulator slots), presence bitmap (ceil(n/8) bytes),
//	byte allN (1: every present node's N is the bucket's Count; else one
//	uvarint N per present node follows), then per present Number node a
//	tag and its values. The tag's bits 0-1 are the mode:
//
//	modeGeneral  bits 2-3, 4-5, 6-7: the forms of Val, Min and Max, each
//	             value follows in its form.
//	modeSteady   the series did not move within the bucket: Min == Max
//	             and Val is what the mode implies (N×Min for a mean, Min
//	             for a counter); bits 2-3: Min's form, then Min.
//	modeWhole    Val, Min and Max are whole numbers (byte counts,
//	             counters, timestamps): Min as a varint, Max-Min as a
//	             uvarint, then Val less its base (N×Min for a mean, Min for
//	             a counter) as a varint, left out when bit 2 says Val ==
//	             Max (a counter that only rose).
//	modeLast     Max == Val (a counter's last value is its largest): bits
//	             2-3 and 4-5 the forms of Val and Min, then Val and Min.
//
// A value's form is +0 (no bytes), a decimal (a whole number, or one with
// at most three decimals, as a varint), a float32 or a float64.
//
// On a realistic host the modes and the decimal form take a closed bucket
// from 1,700 to about 1,250 bytes (BenchmarkHeapPerHost); most of what
// remains is fractional values (CPU and memory percentages, the sums of
// temperatures) whose mantissas are as long as float64 allows.

// Forms of a packed value.
const (
	formZero = iota // +0
	formDec         // m×10^-s, s in 0..3: uvarint(zigzag(m)<<2 | s)
	formF32
	formF64
)

const maxExactInt = 1 << 53

// Decimal finds x as m/10^s with the fewest decimals s (at most 3): a
// whole number, or a value read from text with a few decimals (hwmon's
// millidegrees, /proc/loadavg's hundredths), which float32 cannot hold
// exactly and whose float64 mantissa is long. float64(m)/10^s is one
// correctly rounded division, so reading it back gives x bit for bit.
func Decimal(x float64) (m int64, s int, ok bool) {
	if x > -maxExactInt && x < maxExactInt && x == float64(int64(x)) {
		return int64(x), 0, !(x == 0 && math.Signbit(x)) // -0 keeps its sign as a float
	}
	for s = 1; s <= 3; s++ {
		r := math.Round(x * pow10[s])
		if r > -maxExactInt && r < maxExactInt && r/pow10[s] == x {
			return int64(r), s, true
		}
	}
	return 0, 0, false
}

// value is a number in its packed form: the form, and what the bytes
// carry (the decimal's uvarint, or the float's bits).
type value struct {
	form byte
	bits uint64
}

// encode finds x's smallest exact form, once: what appendValue writes.
func encode(x float64) value {
	if x == 0 && !math.Signbit(x) {
		return value{form: formZero}
	}
	if m, s, ok := Decimal(x); ok {
		return value{formDec, uint64(m<<1^m>>63)<<2 | uint64(s)}
	}
	if float64(float32(x)) == x {
		return value{formF32, uint64(math.Float32bits(float32(x)))}
	}
	return value{formF64, math.Float64bits(x)}
}

func appendValue(dst []byte, v value) []byte {
	switch v.form {
	case formDec:
		return binary.AppendUvarint(dst, v.bits)
	case formF32:
		return binary.LittleEndian.AppendUint32(dst, uint32(v.bits))
	case formF64:
		return binary.LittleEndian.AppendUint64(dst, v.bits)
	}
	return dst
}

func readForm(src []byte, form byte) (float64, []byte) {
	switch form {
	case formDec:
		u, n := binary.Uvarint(src)
		z := u >> 2
		m := int64(z>>1) ^ -int64(z&1)
		return float64(m) / pow10[u&3], src[n:]
	case formF32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(src))), src[4:]
	case formF64:
		return math.Float64frombits(binary.LittleEndian.Uint64(src)), src[8:]
	}
	return 0, src
}

// pack replaces b's wide accumulators with their packed form. l is the
// layout b was filled against.
func (b *Bucket) pack(l *Layout, scratch []byte) []byte {
	if b.packed != nil {
		return scratch
	}
	n := len(b.Acc)
	dst := binary.AppendUvarint(scratch[:0], uint64(n))
	bits := len(dst)
	dst = append(dst, make([]byte, (n+7)/8)...)
	allN := byte(1)
	for i := range b.Acc {
		if b.Acc[i].N > 0 {
			dst[bits+i/8] |= 1 << (i % 8)
			if b.Acc[i].N != b.Count {
				allN = 0
			}
		}
	}
	dst = append(dst, allN)
	if allN == 0 {
		for i := range b.Acc {
			if b.Acc[i].N > 0 {
				dst = binary.AppendUvarint(dst, uint64(b.Acc[i].N))
			}
		}
	}
	number, counter := l.number, l.counter
	for i := range b.Acc {
		if b.Acc[i].N == 0 || i >= len(number) || !number[i] {
			continue
		}
		dst = appendAcc(dst, &b.Acc[i], counter[i])
	}
	b.packed = append([]byte(nil), dst...)
	b.Acc = nil
	return dst
}

// unpack returns b with wide accumulators: b itself, or a copy filled from
// its packed form (sharing b's literals, which are immutable).
func (b *Bucket) unpack(l *Layout) *Bucket {
	if b.packed == nil {
		return b
	}
	return b.unpackInto(&Bucket{}, l)
}

// unpackInto fills w, reusing its accumulators' memory, with b's packed
// accumulators, and returns it.
func (b *Bucket) unpackInto(w *Bucket, l *Layout) *Bucket {
	src := b.packed
	n64, k := binary.Uvarint(src)
	src = src[k:]
	n := int(n64)
	bitmap := src[:(n+7)/8]
	src = src[(n+7)/8:]
	allN := src[0]
	src = src[1:]
	acc := w.Acc[:0]
	if cap(acc) < n {
		acc = make([]Acc, 0, n)
	}
	*w = Bucket{Start: b.Start, Count: b.Count, newest: b.newest, Lits: b.Lits, Acc: append(acc, make([]Acc, n)...)}
	for i := range n {
		if bitmap[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		w.Acc[i].N = b.Count
		if allN == 0 {
			v, k := binary.Uvarint(src)
			src = src[k:]
			w.Acc[i].N = uint32(v)
		}
	}
	number, counter := l.number, l.counter
	for i := range w.Acc {
		a := &w.Acc[i]
		if a.N == 0 {
			continue
		}
		if i >= len(number) || !number[i] {
			*a = Acc{N: a.N, Val: float64(a.N), Min: 1, Max: 1}
			continue
		}
		src = readAcc(src, a, counter[i])
	}
	return w
}

// Fingerprint writes what identifies a closed bucket's content into h (its
// start, counts, packed accumulators and literals) and reports true; a
// wide bucket (open, or not yet packed) has none, and reports false.
func (b *Bucket) Fingerprint(h *maphash.Hash) bool {
	if b.packed == nil {
		return false
	}
	var head [16]byte
	binary.LittleEndian.PutUint64(head[:], uint64(b.Start))
	binary.LittleEndian.PutUint32(head[8:], b.Count)
	binary.LittleEndian.PutUint32(head[12:], b.newest)
	h.Write(head[:])
	h.Write(b.packed)
	for _, l := range b.Lits {
		binary.LittleEndian.PutUint64(head[:], uint64(l.Index))
		binary.LittleEndian.PutUint64(head[8:], uint64(len(l.Raw)))
		h.Write(head[:])
		h.Write(l.Raw)
	}
	return true
}

// PackedBytes is the size of b's packed accumulators (0 while wide).
func (b *Bucket) PackedBytes() int { return len(b.packed) }

// Modes of a packed accumulator (see the top of this file).
const (
	modeGeneral = iota
	modeSteady
	modeWhole
	modeLast
)

func same(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }

// base is what a mean's sum or a counter's last value is relative to:
// N×min, or min. ok is false when N×min is beyond the exact whole numbers.
func base(n uint32, lo float64, counter bool) (float64, bool) {
	if counter {
		return lo, true
	}
	b := float64(n) * lo
	return b, math.Abs(b) < maxExactInt
}

// whole reports whether x is a whole number float64 holds exactly, that a
// varint can carry (not -0, whose sign would be lost).
func whole(x float64) bool {
	return x > -maxExactInt && x < maxExactInt && x == float64(int64(x)) && !(x == 0 && math.Signbit(x))
}

func appendAcc(dst []byte, a *Acc, counter bool) []byte {
	if same(a.Min, a.Max) {
		if b, ok := base(a.N, a.Min, counter); ok && same(a.Val, b) {
			m := encode(a.Min)
			return appendValue(append(dst, modeSteady|m.form<<2), m)
		}
	}
	if whole(a.Val) && whole(a.Min) && whole(a.Max) {
		if b, ok := base(a.N, a.Min, counter); ok {
			tag := byte(modeWhole)
			if same(a.Val, a.Max) {
				tag |= 1 << 2
			}
			dst = append(dst, tag)
			dst = binary.AppendVarint(dst, int64(a.Min))
			dst = binary.AppendUvarint(dst, uint64(int64(a.Max)-int64(a.Min)))
			if tag&(1<<2) == 0 {
				dst = binary.AppendVarint(dst, int64(a.Val)-int64(b))
			}
			return dst
		}
	}
	v, m := encode(a.Val), encode(a.Min)
	if same(a.Val, a.Max) {
		dst = append(dst, modeLast|v.form<<2|m.form<<4)
		return appendValue(appendValue(dst, v), m)
	}
	x := encode(a.Max)
	dst = append(dst, modeGeneral|v.form<<2|m.form<<4|x.form<<6)
	return appendValue(appendValue(appendValue(dst, v), m), x)
}

func readAcc(src []byte, a *Acc, counter bool) []byte {
	tag := src[0]
	src = src[1:]
	switch tag & 3 {
	case modeSteady:
		a.Min, src = readForm(src, (tag>>2)&3)
		a.Max = a.Min
		a.Val, _ = base(a.N, a.Min, counter)
	case modeWhole:
		lo, k := binary.Varint(src)
		src = src[k:]
		span, k := binary.Uvarint(src)
		src = src[k:]
		a.Min, a.Max = float64(lo), float64(lo+int64(span))
		if tag&(1<<2) != 0 {
			a.Val = a.Max
		} else {
			d, k := binary.Varint(src)
			src = src[k:]
			b, _ := base(a.N, a.Min, counter)
			a.Val = float64(int64(b) + d)
		}
	case modeLast:
		a.Val, src = readForm(src, (tag>>2)&3)
		a.Min, src = readForm(src, (tag>>4)&3)
		a.Max = a.Val
	default:
		a.Val, src = readForm(src, (tag>>2)&3)
		a.Min, src = readForm(src, (tag>>4)&3)
		a.Max, src = readForm(src, (tag>>6)&3)
	}
	return src
}
