package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// Cron is a parsed five-field cron expression: a bit set of the allowed
// values of each field. Day of week 7 is folded into 0 (Sunday).
type Cron struct {
	Minute, Hour, DayOfMonth, Month, DayOfWeek uint64
}

var cronDescriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@hourly":   "0 * * * *",
}

type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 0, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// ParseCron parses five fields (minute hour day-of-month month day-of-week),
// each a comma-separated list of "*", a value or a range "a-b", optionally
// with a step "/n"; months and weekdays may be three-letter names. The
// descriptors @yearly, @annually, @monthly, @weekly, @daily and @hourly are
// accepted too.
func ParseCron(expr string) (Cron, error) {
	spec := expr
	if strings.HasPrefix(expr, "@") {
		s, ok := cronDescriptors[expr]
		if !ok {
			return Cron{}, fmt.Errorf("invalid cron %q: unknown descriptor", expr)
		}
		spec = s
	}
	parts := strings.Split(spec, " ")
	if len(parts) != 5 {
		return Cron{}, fmt.Errorf("invalid cron %q: want five fields separated by single spaces (minute hour day-of-month month day-of-week)", expr)
	}
	var sets [5]uint64
	for i, p := range parts {
		set, err := cronFields[i].parse(p)
		if err != nil {
			return Cron{}, fmt.Errorf("invalid cron %q: %s field: %w", expr, cronFields[i].name, err)
		}
		sets[i] = set
	}
	if sets[4]&(1<<7) != 0 {
		sets[4] = sets[4]&^(1<<7) | 1
	}
	return Cron{Minute: sets[0], Hour: sets[1], DayOfMonth: sets[2], Month: sets[3], DayOfWeek: sets[4]}, nil
}

func (f cronField) parse(s string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max {
				return 0, fmt.Errorf("invalid step %q", stepText)
			}
			step = n
		}
		lo, hi := f.min, f.max
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = f.value(b); err != nil {
					return 0, err
				}
				if hi < lo {
					return 0, fmt.Errorf("range %q runs backwards", rng)
				}
			} else if hasStep {
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min || v > f.max {
		return 0, fmt.Errorf("value %q out of range %d-%d", s, f.min, f.max)
	}
	return v, nil
}
