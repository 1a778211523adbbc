package bus

import "strings"

// Subject prefixes.
const (
	RawPrefix = "ringwatch.raw."
	AggPrefix = "ringwatch.agg."
)

// MaxTokenLen bounds a sanitised host name.
const MaxTokenLen = 64

// Token turns a host name into one subject token: lower case, and every
// character outside a-z 0-9 - _ becomes '-'. An empty name becomes "unknown".
func Token(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r < 0x80 && tokenByte(byte(r)) {
			b.WriteByte(byte(r))
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= MaxTokenLen {
			break
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// ValidToken reports whether s is already a sanitised token: what Token
// returns for it is s itself. It allocates nothing: ingest asks it of
// every sample's host.
func ValidToken(s string) bool {
	if s == "" || len(s) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

// tokenByte says whether c may stand in a token as it is: a-z 0-9 - _.
func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Raw is the subject of host's raw samples of kind.
func Raw(host, kind string) string { return RawPrefix + host + "." + kind }

// Agg is the subject of host's closed buckets of kind for period.
func Agg(host, kind, period string) string { return AggPrefix + host + "." + kind + "." + period }

// ParseRaw splits a raw subject into host and kind.
func ParseRaw(subject string) (host, kind string, ok bool) {
	rest, ok := strings.CutPrefix(subject, RawPrefix)
	if !ok {
		return "", "", false
	}
	host, kind, ok = strings.Cut(rest, ".")
	if !ok || host == "" || kind == "" || strings.Contains(kind, ".") {
		return "", "", false
	}
	return host, kind, true
}
