package aggregators

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendSample appends b's aggregate s as a JSON object in the kind's own sample
// shape: every key seen in the bucket, numbers replaced by the stat, literals by
// their last value, and "timestamp" by the bucket start.
func AppendSample(dst []byte, l *Layout, b *Bucket, s Stat) []byte {
	return appendNode(dst, l, l.Root, b, s)
}

func appendNode(dst []byte, l *Layout, n *Node, b *Bucket, s Stat) []byte {
	switch n.Type {
	case Number:
		if n == l.Time {
			return strconv.AppendInt(dst, b.Start, 10)
		}
		return AppendFloat(dst, b.Acc[n.Index].get(s, n.Counter))
	case Literal:
		if r := b.Lit(n); r != nil {
			return append(dst, r...)
		}
		return append(dst, "null"...)
	}
	open, closing := byte('{'), byte('}')
	if n.Type == Array {
		open, closing = '[', ']'
	}
	dst = append(dst, open)
	first := true
	for _, c := range n.order {
		if !b.Has(c) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if n.Type == Object {
			dst = AppendString(dst, c.Key)
			dst = append(dst, ':')
		}
		dst = appendNode(dst, l, c, b, s)
	}
	return append(dst, closing)
}

// AppendFloat appends x the way encoding/json would: integers without a
// fraction or exponent, others in the shortest form.
func AppendFloat(dst []byte, x float64) []byte {
	// Whole numbers (counters, bytes, sums of them) take the integer path:
	// the same digits, several times faster.
	if i := int64(x); float64(i) == x && i > -1e15 && i < 1e15 && (i != 0 || !math.Signbit(x)) {
		return strconv.AppendInt(dst, i, 10)
	}
	abs := x
	if abs < 0 {
		abs = -abs
	}
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, x, 'e', -1, 64)
		// encoding/json writes e-7, not e-07.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	return strconv.AppendFloat(dst, x, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// AppendAggMessage encodes one closed bucket as published on the agg subject:
// {"host","kind","period","start","interval","count","mean","min","max"}.
func AppendAggMessage(dst []byte, host, kind string, p Period, l *Layout, b *Bucket) []byte {
	dst = append(dst, `{"host":`...)
	dst = AppendString(dst, host)
	dst = append(dst, `,"kind":`...)
	dst = AppendString(dst, kind)
	dst = append(dst, `,"period":`...)
	dst = AppendString(dst, p.Name)
	dst = append(dst, `,"start":`...)
	dst = appendInt(dst, b.Start)
	dst = append(dst, `,"interval":`...)
	dst = appendInt(dst, p.Seconds())
	dst = append(dst, `,"count":`...)
	dst = appendInt(dst, int64(b.Count))
	dst = append(dst, `,"mean":`...)
	dst = AppendSample(dst, l, b, Mean)
	dst = append(dst, `,"min":`...)
	dst = AppendSample(dst, l, b, Min)
	dst = append(dst, `,"max":`...)
	dst = AppendSample(dst, l, b, Max)
	return append(dst, '}')
}

func appendInt(dst []byte, x int64) []byte { return strconv.AppendInt(dst, x, 10) }
