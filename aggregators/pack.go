package aggregators

import (
	"encoding/binary"
	"math"
)

// A closed bucket is kept packed: a presence bitmap over the layout's
// nodes, then for each present numeric node a tag byte and its values in
// the smallest exact form (zero, a whole number as a varint, a float32, or
// a float64), with the minimum and maximum left out when they equal another
// field. Containers and literals cost only their presence bit (their
// accumulator is the count of samples they were present in). A wide
// bucket's accumulators take 32 bytes per node of the layout; a packed one
// takes a few bytes per numeric series. Packing is exact: unpacking gives
// the same accumulators back.
//
// Layout of the bytes:
//
//	uvarint n (accumulator slots), presence bitmap (ceil(n/8) bytes),
//	byte allN (1: every present node's N is the bucket's Count; else one
//	uvarint N per present node follows), then per present Number node:
//	tag (bits 0-1 Val form, 2-3 Min form, 4-5 Max form, 6 Min==Val,
//	7 Max==Min) and the values not left out.

const (
	formZero = iota
	formInt
	formF32
	formF64
)

const maxExactInt = 1 << 53

func formOf(x float64) byte {
	if x == 0 {
		if math.Signbit(x) {
			return formF32 // -0 keeps its sign as a float
		}
		return formZero
	}
	if x > -maxExactInt && x < maxExactInt && x == float64(int64(x)) {
		return formInt
	}
	if float64(float32(x)) == x {
		return formF32
	}
	return formF64
}

func appendForm(dst []byte, form byte, x float64) []byte {
	switch form {
	case formInt:
		return binary.AppendVarint(dst, int64(x))
	case formF32:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(x)))
	case formF64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

func readForm(src []byte, form byte) (float64, []byte) {
	switch form {
	case formInt:
		v, n := binary.Varint(src)
		return float64(v), src[n:]
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
	number := l.number
	for i := range b.Acc {
		a := &b.Acc[i]
		if a.N == 0 || i >= len(number) || !number[i] {
			continue
		}
		vf := formOf(a.Val)
		tag := vf
		minEqVal := math.Float64bits(a.Min) == math.Float64bits(a.Val)
		maxEqMin := math.Float64bits(a.Max) == math.Float64bits(a.Min)
		var mf, xf byte
		if minEqVal {
			tag |= 1 << 6
		} else {
			mf = formOf(a.Min)
			tag |= mf << 2
		}
		if maxEqMin {
			tag |= 1 << 7
		} else {
			xf = formOf(a.Max)
			tag |= xf << 4
		}
		dst = append(dst, tag)
		dst = appendForm(dst, vf, a.Val)
		if !minEqVal {
			dst = appendForm(dst, mf, a.Min)
		}
		if !maxEqMin {
			dst = appendForm(dst, xf, a.Max)
		}
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
	src := b.packed
	n64, k := binary.Uvarint(src)
	src = src[k:]
	n := int(n64)
	bitmap := src[:(n+7)/8]
	src = src[(n+7)/8:]
	allN := src[0]
	src = src[1:]
	w := &Bucket{Start: b.Start, Count: b.Count, Lits: b.Lits, Acc: make([]Acc, n)}
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
	number := l.number
	for i := range w.Acc {
		a := &w.Acc[i]
		if a.N == 0 {
			continue
		}
		if i >= len(number) || !number[i] {
			*a = Acc{N: a.N, Val: float64(a.N), Min: 1, Max: 1}
			continue
		}
		tag := src[0]
		src = src[1:]
		a.Val, src = readForm(src, tag&3)
		if tag&(1<<6) != 0 {
			a.Min = a.Val
		} else {
			a.Min, src = readForm(src, (tag>>2)&3)
		}
		if tag&(1<<7) != 0 {
			a.Max = a.Min
		} else {
			a.Max, src = readForm(src, (tag>>4)&3)
		}
	}
	return w
}

// PackedBytes is the size of b's packed accumulators (0 while wide).
func (b *Bucket) PackedBytes() int { return len(b.packed) }
