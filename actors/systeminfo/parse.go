package systeminfo

import (
	"bytes"
	"errors"
	"strconv"
)

// The parsers shared by the collectors. Each collector's own parser
// (ParseStat, ParseMemInfo, ParseDiskstats, ParseNetDev) sits in its file;
// all of them take bytes and are tested without a kernel.

var errFormat = errors.New("unexpected format")

// fields splits b on spaces without allocating beyond out's capacity.
func fields(b []byte, out [][]byte) [][]byte {
	out = out[:0]
	i := 0
	for i < len(b) {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\t' {
			j++
		}
		if j > i {
			out = append(out, b[i:j])
		}
		i = j
	}
	return out
}

func atou(b []byte) (uint64, error) {
	var n uint64
	if len(b) == 0 {
		return 0, errFormat
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errFormat
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parseMilli parses a sysfs value in thousandths ("45000\n" is 45).
func parseMilli(b []byte) (float64, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil {
		return 0, err
	}
	return v / 1000, nil
}

// memo remembers a filter's verdict per name: device and interface names
// repeat every poll, and a regular expression need not run again.
type memo struct {
	verdicts map[string]bool
	keep     func(name []byte) bool
}

func newMemo(keep func([]byte) bool) memo { return memo{verdicts: map[string]bool{}, keep: keep} }

func (m memo) has(name []byte) bool {
	k, ok := m.verdicts[string(name)]
	if !ok {
		k = m.keep(name)
		m.verdicts[string(name)] = k
	}
	return k
}

// names interns device and interface names, so that a poll allocates no
// string for a name it has seen before.
type names map[string]string

func (n names) intern(b []byte) string {
	if s, ok := n[string(b)]; ok {
		return s
	}
	s := string(b)
	n[s] = s
	return s
}
