package uptime

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Route is one health-checked route, as written under routes: in the
// --config file.
type Route struct {
	Alias         string   `yaml:"alias"`
	URL           string   `yaml:"url"`
	Interval      Duration `yaml:"interval"`
	Timeout       Duration `yaml:"timeout"`
	ExpectStatus  string   `yaml:"expect_status"`
	ExpectBody    string   `yaml:"expect_body"`
	TLSSkipVerify bool     `yaml:"tls_skip_verify"`
	Paused        bool     `yaml:"paused"`

	statuses []statusRange // parsed ExpectStatus
	scheme   string
	address  string // host:port, for tcp
}

// Duration is a time.Duration written as "5s" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (like 5s): %q", b)
	}
	*d = Duration(v)
	return nil
}

type statusRange struct{ lo, hi int }

// Defaults.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 5 * time.Second
	MinInterval     = 100 * time.Millisecond
)

// RouteError names the route and the field that is wrong.
type RouteError struct {
	Index int
	Alias string
	Field string
	Err   error
}

func (e *RouteError) Error() string {
	who := fmt.Sprintf("route %d", e.Index+1)
	if e.Alias != "" {
		who = fmt.Sprintf("route %q", e.Alias)
	}
	return fmt.Sprintf("%s: %s: %v", who, e.Field, e.Err)
}

// Validate fills defaults and checks every route: alias present and unique,
// a http://, https:// or tcp://host:port URL, an interval of at least 100 ms,
// a timeout below the interval (default 5 s, or 4/5 of a shorter interval),
// and expect_status as codes and ranges ("200-399", "200,204").
func Validate(routes []Route) ([]Route, error) {
	out := make([]Route, len(routes))
	seen := map[string]bool{}
	for i, r := range routes {
		fail := func(field string, format string, a ...any) error {
			return &RouteError{Index: i, Alias: r.Alias, Field: field, Err: fmt.Errorf(format, a...)}
		}
		if strings.TrimSpace(r.Alias) == "" {
			return nil, fail("alias", "required")
		}
		if seen[r.Alias] {
			return nil, fail("alias", "duplicate: another route has it")
		}
		seen[r.Alias] = true
		u, err := url.Parse(r.URL)
		if err != nil || u.Host == "" {
			return nil, fail("url", "%q is not a URL like https://host/path or tcp://host:port", r.URL)
		}
		r.scheme = u.Scheme
		switch u.Scheme {
		case "http", "https":
		case "tcp":
			if u.Port() == "" {
				return nil, fail("url", "tcp URLs need a port: %q", r.URL)
			}
			r.address = u.Host
			if _, _, err := net.SplitHostPort(r.address); err != nil {
				return nil, fail("url", "%v", err)
			}
		default:
			return nil, fail("url", "scheme %q is not http, https or tcp", u.Scheme)
		}
		if r.Interval == 0 {
			r.Interval = Duration(DefaultInterval)
		}
		if time.Duration(r.Interval) < MinInterval {
			return nil, fail("interval", "%s is below the minimum of %s", time.Duration(r.Interval), MinInterval)
		}
		if r.Timeout == 0 {
			r.Timeout = Duration(min(DefaultTimeout, time.Duration(r.Interval)*4/5))
		}
		if r.Timeout <= 0 || r.Timeout >= r.Interval {
			return nil, fail("timeout", "%s must be above 0 and below the interval (%s)", time.Duration(r.Timeout), time.Duration(r.Interval))
		}
		if r.scheme == "tcp" && (r.ExpectStatus != "" || r.ExpectBody != "") {
			return nil, fail("expect_status", "tcp routes have no status or body to expect")
		}
		spec := r.ExpectStatus
		if spec == "" {
			spec = "200-399"
		}
		if r.statuses, err = parseStatuses(spec); err != nil {
			return nil, fail("expect_status", "%v", err)
		}
		out[i] = r
	}
	return out, nil
}

func parseStatuses(spec string) ([]statusRange, error) {
	var out []statusRange
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("%q is not a status code or range (like 200-399)", part)
		}
		out = append(out, statusRange{a, b})
	}
	return out, nil
}

func (r Route) statusOK(code int) bool {
	for _, s := range r.statuses {
		if code >= s.lo && code <= s.hi {
			return true
		}
	}
	return false
}
