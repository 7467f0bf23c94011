package schedule

import "testing"

func TestParseCron(t *testing.T) {
	tests := []struct {
		in   string
		want Cron
		err  string
	}{
		{in: "0 17 * * MON-FRI", want: Cron{Minute: 1, Hour: 1 << 17, DayOfMonth: bitRange(1, 31, 1), Month: bitRange(1, 12, 1), DayOfWeek: bitRange(1, 5, 1)}},
		{in: "*/15 9-17/4 1,15 jan * ", err: `invalid cron "*/15 9-17/4 1,15 jan * ": want five fields separated by single spaces (minute hour day-of-month month day-of-week)`},
		{in: "*/15 9-17/4 1,15 jan *", want: Cron{Minute: bitRange(0, 59, 15), Hour: 1<<9 | 1<<13 | 1<<17, DayOfMonth: 1<<1 | 1<<15, Month: 1 << 1, DayOfWeek: bitRange(0, 6, 1)}},
		{in: "0 0 * * 7", want: Cron{Minute: 1, Hour: 1, DayOfMonth: bitRange(1, 31, 1), Month: bitRange(1, 12, 1), DayOfWeek: 1}},
		{in: "@daily", want: Cron{Minute: 1, Hour: 1, DayOfMonth: bitRange(1, 31, 1), Month: bitRange(1, 12, 1), DayOfWeek: bitRange(0, 6, 1)}},
		{in: "@often", err: `invalid cron "@often": unknown descriptor`},
		{in: "60 * * * *", err: `invalid cron "60 * * * *": minute field: value "60" out of range 0-59`},
		{in: "0 17 * * FRI-MON", err: `invalid cron "0 17 * * FRI-MON": day-of-week field: range "FRI-MON" runs backwards`},
		{in: "0 17 0 * *", err: `invalid cron "0 17 0 * *": day-of-month field: value "0" out of range 1-31`},
		{in: "*/0 * * * *", err: `invalid cron "*/0 * * * *": minute field: invalid step "0"`},
		{in: "0 17 * *", err: `invalid cron "0 17 * *": want five fields separated by single spaces (minute hour day-of-month month day-of-week)`},
	}
	for _, tt := range tests {
		got, err := ParseCron(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseCron(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseCron(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func bitRange(lo, hi, step int) uint64 {
	var s uint64
	for v := lo; v <= hi; v += step {
		s |= 1 << v
	}
	return s
}
