package api

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ringwatch/ringwatch/aggregators"
	"github.com/ringwatch/ringwatch/bus"
)

// query is one validated metrics request. Its key names everything that
// decides the answer, so equal keys get byte-identical bodies.
type query struct {
	kind      aggregators.Kind
	host      string
	period    *aggregators.Period // nil: the latest sample
	aggregate string
	stat      aggregators.Stat
	limit     int
	offset    int
	values    url.Values
	key       string
}

// Limits on what a query may ask.
const (
	maxPage        = 1_000_000
	maxQueryString = 4096
	minInterval    = time.Second
	maxInterval    = time.Hour
)

// queryValues copies the query string into url.Values; the copy is needed
// because Fiber reuses its buffers after the handler returns.
func queryValues(c *fiber.Ctx) url.Values {
	v := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, val []byte) {
		v.Add(string(k), string(val))
	})
	return v
}

func queryInt(v url.Values, key string) (int, error) {
	raw := v.Get(key)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > maxPage {
		return 0, badRequest("invalid %s %q: want a whole number from 0 to %d", key, raw, maxPage)
	}
	return n, nil
}

// parseInterval reads the WebSocket push interval: a Go duration, at least
// 1 s (shorter ones are raised to 1 s), at most 1 h. One it cannot use
// (abc, 5 without a unit, -5s, 48h) means 1 s, as in GoDoxy: its web UI
// never retries a socket closed for a bad request, so a closed socket is a
// dead chart.
func parseInterval(v url.Values) time.Duration {
	d, err := time.ParseDuration(v.Get("interval"))
	if err != nil || d > maxInterval {
		return minInterval
	}
	return max(d, minInterval)
}

// parseQuery validates a metrics request for kind from its query string.
func (s *Server) parseQuery(kindName string, v url.Values) (*query, error) {
	kind, ok := s.cfg.Store.Kind(kindName)
	if !ok {
		return nil, notFound("unknown metrics kind %q", kindName)
	}
	q := &query{kind: kind, values: v, aggregate: v.Get("aggregate")}
	q.host = v.Get("host")
	if q.host == "" {
		q.host = v.Get("agent_name")
	}
	if q.host == "" {
		// GoDoxy's web UI names an agent by its address: ringwatch's agent
		// list gives each host's token as its address.
		q.host = v.Get("agent_addr")
	}
	asked := q.host
	if q.host == "" {
		q.host = s.cfg.OwnHost
	} else {
		q.host = bus.Token(q.host)
	}
	if q.stat, ok = aggregators.ParseStat(v.Get("stat")); !ok {
		return nil, badRequest("invalid stat %q: want avg, min or max", v.Get("stat"))
	}
	var err error
	if q.limit, err = queryInt(v, "limit"); err != nil {
		return nil, err
	}
	if q.offset, err = queryInt(v, "offset"); err != nil {
		return nil, err
	}
	if p := v.Get("period"); p != "" {
		per, err := aggregators.ParsePeriod(p)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		q.period = &per
		if q.aggregate == "" {
			q.aggregate = kind.Default
		}
		if _, ok := kind.Modes[q.aggregate]; !ok {
			_, err := kind.Aggregate(q.aggregate, nil, aggregators.Query{})
			return nil, badRequest("%v", err)
		}
	}
	if !s.known(q.host) {
		if asked != "" && asked != q.host { // say what was asked, and what it was looked up as
			return nil, notFound("unknown host %q (looked up as %q)", asked, q.host)
		}
		return nil, notFound("unknown host %q", q.host)
	}
	var b strings.Builder
	b.WriteString(kindName + "|" + q.host + "|")
	if q.period != nil {
		b.WriteString(q.period.Name + "|" + q.aggregate + "|" + strconv.Itoa(int(q.stat)) + "|" +
			strconv.Itoa(q.limit) + "|" + strconv.Itoa(q.offset) + "|" + v.Get("keyword"))
	}
	q.key = b.String()
	return q, nil
}

// nullBody is the answer for a host's latest sample before its first one,
// over REST and WebSocket alike.
var nullBody = []byte("null")

// answers caches the body of each query for the view it was computed from.
// Views are replaced only when their data changes, so a cached body is
// reused until then, however many requests and sockets ask.
type answers struct {
	m    sync.Map // key -> *answer
	size atomic.Int64
}

type answer struct {
	view *aggregators.View
	body []byte
}

const maxCachedAnswers = 4096

// Page is the body of a query with a period.
type Page struct {
	Total int   `json:"total"`
	Data  []any `json:"data"`
}

// answer returns q's body: the latest raw sample, or the paged aggregate.
func (s *Server) answer(q *query) ([]byte, error) {
	if q.period == nil {
		if l := s.cfg.Store.Latest(q.host, q.kind.Name); l != nil {
			return l.Body(), nil
		}
		if q.kind.Empty != nil {
			return q.kind.Empty(time.Now()), nil
		}
		return nullBody, nil
	}
	v := s.cfg.Store.View(*q.period, q.host, q.kind.Name)
	if a, ok := s.answers.m.Load(q.key); ok && v != nil && a.(*answer).view == v {
		return a.(*answer).body, nil
	}
	var entries []aggregators.Entry
	if v != nil {
		entries = v.Entries()
	}
	s.computations.Add(1)
	data, err := q.kind.Aggregate(q.aggregate, entries, aggregators.Query{Stat: q.stat, Values: q.values, Interval: int64(q.period.Seconds())})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	body, err := json.Marshal(Page{Total: len(data), Data: paginate(data, q.limit, q.offset)})
	if err != nil {
		return nil, err
	}
	if v != nil {
		if s.answers.size.Add(1) > maxCachedAnswers {
			s.answers.m.Clear()
			s.answers.size.Store(1)
		}
		s.answers.m.Store(q.key, &answer{view: v, body: body})
	}
	return body, nil
}

// paginate slices after offset, at most limit items (0: all).
func paginate(data []any, limit, offset int) []any {
	if offset >= len(data) {
		return []any{}
	}
	data = data[offset:]
	if limit > 0 && limit < len(data) {
		data = data[:limit]
	}
	return data
}
