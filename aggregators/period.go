package aggregators

import (
	"fmt"
	"time"
)

// Slots is how many buckets each period keeps.
const Slots = 100

// Period is one of the five time windows, each kept as Slots wall-clock-aligned
// buckets of Interval.
type Period struct {
	Name     string
	Duration time.Duration
	Interval time.Duration
}

// Seconds is the bucket width in whole seconds.
func (p Period) Seconds() int64 { return int64(p.Interval / time.Second) }

// NumPeriods is how many periods there are.
const NumPeriods = 5

// Periods are the five periods, finest first. Each interval divides the next.
var Periods = [NumPeriods]Period{
	{"5m", 5 * time.Minute, 3 * time.Second},
	{"15m", 15 * time.Minute, 9 * time.Second},
	{"1h", time.Hour, 36 * time.Second},
	{"1d", 24 * time.Hour, 864 * time.Second},
	{"1mo", 30 * 24 * time.Hour, 25920 * time.Second},
}

// PeriodNames lists the valid period names, for error messages.
const PeriodNames = "5m, 15m, 1h, 1d, 1mo"

// ParsePeriod finds a period by its exact (case-sensitive) name.
func ParsePeriod(name string) (Period, error) {
	for _, p := range Periods {
		if p.Name == name {
			return p, nil
		}
	}
	return Period{}, fmt.Errorf("invalid period %q: want one of %s", name, PeriodNames)
}
