package schedule

import (
	"strings"
	"testing"
	"time"
)

// spec is a schedule in the Campaign API's terms; end "" means none, cron ""
// a single window.
type spec struct {
	start, end, cron string
	duration         time.Duration
	zone             string
}

func (sp spec) build(t testing.TB) *Schedule {
	t.Helper()
	var end *time.Time
	if sp.end != "" {
		e := mustTime(t, sp.end)
		end = &e
	}
	var rec *Recurrence
	if sp.cron != "" {
		rec = &Recurrence{Cron: sp.cron, Duration: sp.duration}
	}
	s, err := New(mustTime(t, sp.start), end, rec, sp.zone)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRejects(t *testing.T) {
	start := mustTime(t, "2026-06-01T00:00:00Z")
	later, same := start.Add(time.Hour), start
	tests := []struct {
		name    string
		end     *time.Time
		rec     *Recurrence
		zone    string
		wantErr string
	}{
		{"end before start", &start, nil, "UTC", "must be after start"},
		{"end equal start", &same, nil, "UTC", "must be after start"},
		{"no end, no recurrence", nil, nil, "UTC", "end is required"},
		{"unknown zone", &later, nil, "Mars/Olympus", "timeZone"},
		{"Local zone", &later, nil, "Local", "timeZone"},
		{"bad cron", nil, &Recurrence{Cron: "0 25 * * *", Duration: time.Hour}, "UTC", "recurrence.cron"},
		{"zero duration", nil, &Recurrence{Cron: "@daily", Duration: 0}, "UTC", "recurrence.duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(start, tt.end, tt.rec, tt.zone)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestWindowBoundaries checks each window at its edges: a nanosecond before
// start is outside, start and a nanosecond before end are inside, end is
// outside.
func TestWindowBoundaries(t *testing.T) {
	tests := []struct {
		name       string
		sp         spec
		start, end string // an expected window
	}{
		{"single", spec{start: "2026-06-01T00:00:00Z", end: "2026-06-08T00:00:00Z", zone: "UTC"},
			"2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"},
		{"single with nanoseconds", spec{start: "2026-06-01T00:00:00.5Z", end: "2026-06-01T00:00:01.5Z", zone: "UTC"},
			"2026-06-01T00:00:00.5Z", "2026-06-01T00:00:01.5Z"},
		{"daily", spec{start: "2026-06-01T00:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"},
			"2026-06-03T17:00:00Z", "2026-06-03T19:00:00Z"},
		{"weekly Berlin", spec{start: "2026-01-01T00:00:00Z", end: "2027-01-01T00:00:00Z", cron: "0 17 * * FRI", duration: 2 * time.Hour, zone: "Europe/Berlin"},
			"2026-07-03T17:00:00+02:00", "2026-07-03T19:00:00+02:00"},
		{"occurrence before start clipped to start", spec{start: "2026-06-01T18:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"},
			"2026-06-01T18:00:00Z", "2026-06-01T19:00:00Z"},
		{"occurrence at start", spec{start: "2026-06-01T17:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"},
			"2026-06-01T17:00:00Z", "2026-06-01T19:00:00Z"},
		{"window clipped to end", spec{start: "2026-06-01T00:00:00Z", end: "2026-06-08T18:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"},
			"2026-06-08T17:00:00Z", "2026-06-08T18:00:00Z"},
		{"back-to-back windows", spec{start: "2026-06-01T00:00:00Z", cron: "0 * * * *", duration: time.Hour, zone: "UTC"},
			"2026-06-01T05:00:00Z", "2026-06-01T06:00:00Z"},
		// 09:00 Berlin is 08:00Z in winter and 07:00Z from the spring-forward day.
		{"09:00 Berlin before spring", spec{start: "2026-03-01T00:00:00Z", cron: "0 9 * * *", duration: time.Hour, zone: "Europe/Berlin"},
			"2026-03-28T08:00:00Z", "2026-03-28T09:00:00Z"},
		{"09:00 Berlin after spring", spec{start: "2026-03-01T00:00:00Z", cron: "0 9 * * *", duration: time.Hour, zone: "Europe/Berlin"},
			"2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z"},
		{"09:00 New York after fall", spec{start: "2026-10-01T00:00:00Z", cron: "0 9 * * *", duration: time.Hour, zone: "America/New_York"},
			"2026-11-01T14:00:00Z", "2026-11-01T15:00:00Z"},
		// A 2h window from 01:30 EDT on the fall-back night lasts two elapsed
		// hours: it closes at 02:30 EST, not 03:30.
		{"elapsed duration over fall-back", spec{start: "2026-10-01T00:00:00Z", cron: "30 1 * * *", duration: 2 * time.Hour, zone: "America/New_York"},
			"2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00"},
		{"Berlin repeated hour, first pass", spec{start: "2026-10-01T00:00:00Z", cron: "30 2 * * *", duration: 30 * time.Minute, zone: "Europe/Berlin"},
			"2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+02:00"},
		// Over spring-forward the 1h window from 01:30 ends at 03:30 on the wall clock.
		{"elapsed duration over spring-forward", spec{start: "2026-03-01T00:00:00Z", cron: "30 1 * * *", duration: time.Hour, zone: "America/New_York"},
			"2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.sp.build(t)
			want := Window{mustTime(t, tt.start), mustTime(t, tt.end)}
			for _, c := range []struct {
				at     time.Time
				inside bool
			}{
				{want.Start.Add(-time.Nanosecond), false},
				{want.Start, true},
				{want.End.Add(-time.Nanosecond), true},
				{want.End, false},
			} {
				w, ok := s.WindowAt(c.at)
				if c.inside && (!ok || !w.Start.Equal(want.Start) || !w.End.Equal(want.End)) {
					t.Errorf("WindowAt(%s) = %v, %v; want %v", c.at.UTC(), w, ok, want)
				}
				if !c.inside && ok && w.Start.Equal(want.Start) {
					t.Errorf("WindowAt(%s) = %v, want outside %v", c.at.UTC(), w, want)
				}
				if ok && !w.Contains(c.at) {
					t.Errorf("WindowAt(%s) = %v, which does not contain it", c.at.UTC(), w)
				}
			}
		})
	}
}

// TestNoWindow checks instants covered by no window, in particular wall
// times a daylight saving change skips or repeats.
func TestNoWindow(t *testing.T) {
	tests := []struct {
		name string
		sp   spec
		at   string
	}{
		{"before start", spec{start: "2026-06-01T00:00:00Z", end: "2026-06-02T00:00:00Z", zone: "UTC"}, "2026-05-31T23:59:59Z"},
		{"after end", spec{start: "2026-06-01T00:00:00Z", end: "2026-06-02T00:00:00Z", zone: "UTC"}, "2026-06-02T00:00:01Z"},
		{"between daily windows", spec{start: "2026-06-01T00:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"}, "2026-06-03T12:00:00Z"},
		{"occurrence before start ended", spec{start: "2026-06-01T20:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"}, "2026-06-01T20:00:00Z"},
		{"occurrence at end", spec{start: "2026-06-01T00:00:00Z", end: "2026-06-08T17:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"}, "2026-06-08T17:00:00Z"},
		// 02:30 does not exist on 2026-03-08 in New York nor 2026-03-29 in Berlin.
		{"NY skipped 02:30", spec{start: "2026-03-01T00:00:00Z", cron: "30 2 * * *", duration: time.Hour, zone: "America/New_York"}, "2026-03-08T03:45:00-04:00"},
		{"Berlin skipped 02:30", spec{start: "2026-03-01T00:00:00Z", cron: "30 2 * * *", duration: time.Hour, zone: "Europe/Berlin"}, "2026-03-29T03:15:00+02:00"},
		// The second pass through the repeated hour opens no window.
		{"NY second 01:30", spec{start: "2026-10-01T00:00:00Z", cron: "30 1 * * *", duration: 20 * time.Minute, zone: "America/New_York"}, "2026-11-01T01:35:00-05:00"},
		{"Berlin second 02:30", spec{start: "2026-10-01T00:00:00Z", cron: "30 2 * * *", duration: 20 * time.Minute, zone: "Europe/Berlin"}, "2026-10-25T02:35:00+01:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w, ok := tt.sp.build(t).WindowAt(mustTime(t, tt.at)); ok {
				t.Fatalf("WindowAt(%s) = %v, want none", tt.at, w)
			}
		})
	}
}

// TestWeeklyHappyHourYear walks a year of Friday happy hours in Berlin with
// NextTransition and checks every window.
func TestWeeklyHappyHourYear(t *testing.T) {
	sp := spec{start: "2026-01-01T00:00:00+01:00", end: "2027-01-01T00:00:00+01:00", cron: "0 17 * * FRI", duration: 2 * time.Hour, zone: "Europe/Berlin"}
	s := sp.build(t)
	start, end := mustTime(t, sp.start), mustTime(t, sp.end)
	loc := mustLoc(t, "Europe/Berlin")

	fridays := 0 // counted from the calendar
	for d := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
		if d.Weekday() == time.Friday {
			fridays++
		}
	}
	if fridays != 52 {
		t.Fatalf("2026 has %d Fridays, want 52", fridays)
	}

	var windows []Window
	transitions := 0
	for at, ok := s.NextTransition(start.Add(-time.Nanosecond)); ok; at, ok = s.NextTransition(at) {
		if at.Before(start) || at.After(end) {
			t.Fatalf("transition %s outside the campaign", at)
		}
		transitions++
		before, wasIn := s.WindowAt(at.Add(-time.Nanosecond))
		w, in := s.WindowAt(at)
		switch {
		case in && !wasIn:
			windows = append(windows, w)
			if !w.Start.Equal(at) {
				t.Errorf("window %v opened at %s", w, at)
			}
		case wasIn && !in:
			if !before.End.Equal(at) {
				t.Errorf("window %v closed at %s", before, at)
			}
		default:
			t.Errorf("no change at transition %s: %v/%v then %v/%v", at, before, wasIn, w, in)
		}
		if transitions > 1000 {
			t.Fatal("NextTransition does not progress")
		}
	}
	if len(windows) != fridays {
		t.Errorf("%d windows, want %d", len(windows), fridays)
	}
	if transitions != 2*len(windows) {
		t.Errorf("%d transitions for %d windows", transitions, len(windows))
	}
	for i, w := range windows {
		l := w.Start.In(loc)
		if l.Weekday() != time.Friday || l.Hour() != 17 || l.Minute() != 0 || l.Year() != 2026 {
			t.Errorf("window %d starts %s", i, l)
		}
		if w.End.Sub(w.Start) != 2*time.Hour {
			t.Errorf("window %d is %v", i, w)
		}
		if i > 0 && w.Start.Before(windows[i-1].End) {
			t.Errorf("window %d %v overlaps %v", i, w, windows[i-1])
		}
	}
}

func TestPhase(t *testing.T) {
	single := spec{start: "2026-06-01T00:00:00Z", end: "2026-06-08T00:00:00Z", zone: "UTC"}
	daily := spec{start: "2026-06-01T00:00:00Z", end: "2026-06-08T18:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"}
	lateStart := spec{start: "2026-06-01T18:00:00Z", cron: "0 17 * * *", duration: 2 * time.Hour, zone: "UTC"}
	noOccurrence := spec{start: "2026-02-01T00:00:00Z", end: "2026-03-01T00:00:00Z", cron: "0 0 1 1 *", duration: time.Hour, zone: "UTC"}
	impossible := spec{start: "2026-01-01T00:00:00Z", cron: "0 0 30 2 *", duration: time.Hour, zone: "UTC"}
	tests := []struct {
		name             string
		sp               spec
		now              string
		paused           bool
		phase            string
		winStart, winEnd string // "" for no current window
		next             string // "" for none
	}{
		{"single before start", single, "2026-05-01T00:00:00Z", false, PhaseScheduled, "", "", "2026-06-01T00:00:00Z"},
		{"single at start", single, "2026-06-01T00:00:00Z", false, PhaseActive, "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-08T00:00:00Z"},
		{"single inside", single, "2026-06-03T00:00:00Z", false, PhaseActive, "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-08T00:00:00Z"},
		{"single at end", single, "2026-06-08T00:00:00Z", false, PhaseCompleted, "", "", ""},
		{"single paused inside", single, "2026-06-03T00:00:00Z", true, PhasePaused, "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-08T00:00:00Z"},
		{"single paused before start", single, "2026-05-01T00:00:00Z", true, PhasePaused, "", "", "2026-06-01T00:00:00Z"},
		{"single paused after end", single, "2026-06-09T00:00:00Z", true, PhaseCompleted, "", "", ""},
		{"daily before start", daily, "2026-05-31T12:00:00Z", false, PhaseScheduled, "", "", "2026-06-01T17:00:00Z"},
		{"daily between windows", daily, "2026-06-02T12:00:00Z", false, PhaseScheduled, "", "", "2026-06-02T17:00:00Z"},
		{"daily at window end", daily, "2026-06-02T19:00:00Z", false, PhaseScheduled, "", "", "2026-06-03T17:00:00Z"},
		{"daily inside", daily, "2026-06-02T18:00:00Z", false, PhaseActive, "2026-06-02T17:00:00Z", "2026-06-02T19:00:00Z", "2026-06-02T19:00:00Z"},
		{"daily last window clipped", daily, "2026-06-08T17:30:00Z", false, PhaseActive, "2026-06-08T17:00:00Z", "2026-06-08T18:00:00Z", "2026-06-08T18:00:00Z"},
		{"daily before last window", daily, "2026-06-08T16:00:00Z", false, PhaseScheduled, "", "", "2026-06-08T17:00:00Z"},
		{"daily at end", daily, "2026-06-08T18:00:00Z", false, PhaseCompleted, "", "", ""},
		{"daily paused between", daily, "2026-06-02T12:00:00Z", true, PhasePaused, "", "", "2026-06-02T17:00:00Z"},
		{"late start, before", lateStart, "2026-05-31T12:00:00Z", false, PhaseScheduled, "", "", "2026-06-01T18:00:00Z"},
		{"late start, at start", lateStart, "2026-06-01T18:00:00Z", false, PhaseActive, "2026-06-01T18:00:00Z", "2026-06-01T19:00:00Z", "2026-06-01T19:00:00Z"},
		{"no occurrence inside", noOccurrence, "2026-01-15T00:00:00Z", false, PhaseCompleted, "", "", ""},
		{"impossible cron", impossible, "2026-01-15T00:00:00Z", false, PhaseCompleted, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phase, cur, next := tt.sp.build(t).Phase(mustTime(t, tt.now), tt.paused)
			if phase != tt.phase {
				t.Errorf("phase = %s, want %s", phase, tt.phase)
			}
			switch {
			case tt.winStart == "" && cur != nil:
				t.Errorf("current = %v, want none", *cur)
			case tt.winStart != "" && (cur == nil || !cur.Start.Equal(mustTime(t, tt.winStart)) || !cur.End.Equal(mustTime(t, tt.winEnd))):
				t.Errorf("current = %v, want [%s, %s)", cur, tt.winStart, tt.winEnd)
			}
			switch {
			case tt.next == "" && next != nil:
				t.Errorf("next = %s, want none", next)
			case tt.next != "" && (next == nil || !next.Equal(mustTime(t, tt.next))):
				t.Errorf("next = %v, want %s", next, tt.next)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	const year = "2026-01-01T00:00:00Z"
	tests := []struct {
		name    string
		sp      spec
		gap     time.Duration
		wantErr string // "" when the windows do not overlap
	}{
		{"daily 23h in UTC", spec{start: year, cron: "0 9 * * *", duration: 23 * time.Hour, zone: "UTC"}, 24 * time.Hour, ""},
		{"daily 23h in Berlin over spring-forward", spec{start: year, cron: "0 9 * * *", duration: 23 * time.Hour, zone: "Europe/Berlin"}, 23 * time.Hour,
			"recurrence.duration 23h is not shorter than the 23h between the occurrences at 2026-03-28T09:00:00+01:00 and 2026-03-29T09:00:00+02:00"},
		{"daily 22h59m in Berlin", spec{start: year, cron: "0 9 * * *", duration: 22*time.Hour + 59*time.Minute, zone: "Europe/Berlin"}, 23 * time.Hour, ""},
		{"daily 25h in New York", spec{start: year, cron: "0 9 * * *", duration: 25 * time.Hour, zone: "America/New_York"}, 23 * time.Hour,
			"recurrence.duration 25h is not shorter than the 23h between the occurrences at 2026-03-07T09:00:00-05:00 and 2026-03-08T09:00:00-04:00"},
		// The skipped 02:30 makes a 47h gap, the repeated one a 25h gap: neither is short.
		{"daily 02:30 in Berlin", spec{start: year, cron: "30 2 * * *", duration: 23*time.Hour + 30*time.Minute, zone: "Europe/Berlin"}, 24 * time.Hour, ""},
		{"weekly 200h", spec{start: year, cron: "0 17 * * FRI", duration: 200 * time.Hour, zone: "UTC"}, 168 * time.Hour,
			"recurrence.duration 200h is not shorter than the 168h between"},
		{"weekly 167h in Berlin", spec{start: year, cron: "0 17 * * FRI", duration: 167 * time.Hour, zone: "Europe/Berlin"}, 167 * time.Hour,
			"the 167h between the occurrences at 2026-03-27T17:00:00+01:00 and 2026-04-03T17:00:00+02:00"},
		{"half-hourly 10m", spec{start: year, cron: "*/30 * * * *", duration: 10 * time.Minute, zone: "UTC"}, 30 * time.Minute, ""},
		{"half-hourly 30m", spec{start: year, cron: "*/30 * * * *", duration: 30 * time.Minute, zone: "UTC"}, 30 * time.Minute,
			"recurrence.duration 30m is not shorter than the 30m between the occurrences at 2026-01-01T00:00:00Z and 2026-01-01T00:30:00Z"},
		{"9 and 10 with 90m", spec{start: year, cron: "0 9,10 * * *", duration: 90 * time.Minute, zone: "UTC"}, time.Hour,
			"recurrence.duration 1h30m is not shorter than the 1h between the occurrences at 2026-01-01T09:00:00Z and 2026-01-01T10:00:00Z"},
		{"end shortens the horizon", spec{start: year, end: "2026-03-01T00:00:00Z", cron: "0 9 * * *", duration: 23 * time.Hour, zone: "Europe/Berlin"}, 24 * time.Hour, ""},
		{"monthly 29 days", spec{start: year, cron: "0 0 1 * *", duration: 29 * 24 * time.Hour, zone: "UTC"}, 28 * 24 * time.Hour,
			"the 672h between the occurrences at 2026-02-01T00:00:00Z and 2026-03-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.sp.build(t)
			g, ok := s.MinGap()
			if !ok || g.Duration != tt.gap || g.To.Sub(g.From) != g.Duration {
				t.Errorf("MinGap = %+v, %v; want %s", g, ok, tt.gap)
			}
			err := s.Overlaps()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Overlaps = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Overlaps = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	single := spec{start: year, end: "2027-01-01T00:00:00Z", zone: "UTC"}.build(t)
	if _, ok := single.MinGap(); ok {
		t.Error("MinGap of a single window is set")
	}
	if err := single.Overlaps(); err != nil {
		t.Errorf("Overlaps of a single window = %v", err)
	}
}

// TestOverlappingWindows pins the windows of a recurrence whose windows
// overlap: the window opened first is returned until it closes.
func TestOverlappingWindows(t *testing.T) {
	s := spec{start: "2026-01-01T00:00:00Z", cron: "0 9,10 * * *", duration: 90 * time.Minute, zone: "UTC"}.build(t)
	for _, c := range []struct{ at, start, next string }{
		{"2026-01-01T10:15:00Z", "2026-01-01T09:00:00Z", "2026-01-01T10:30:00Z"},
		{"2026-01-01T10:30:00Z", "2026-01-01T10:00:00Z", "2026-01-01T11:30:00Z"},
	} {
		w, ok := s.WindowAt(mustTime(t, c.at))
		if !ok || !w.Start.Equal(mustTime(t, c.start)) {
			t.Errorf("WindowAt(%s) = %v, %v; want one from %s", c.at, w, ok, c.start)
		}
		if n, ok := s.NextTransition(mustTime(t, c.at)); !ok || !n.Equal(mustTime(t, c.next)) {
			t.Errorf("NextTransition(%s) = %s, %v; want %s", c.at, n, ok, c.next)
		}
	}
}

func BenchmarkWindowAt(b *testing.B) {
	s := spec{start: "2026-01-01T00:00:00Z", end: "2027-01-01T00:00:00Z", cron: "0 17 * * FRI", duration: 2 * time.Hour, zone: "Europe/Berlin"}.build(b)
	at := mustTime(b, "2026-01-01T00:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		// Step by 61 minutes so that instants fall in and out of windows.
		s.WindowAt(at)
		if at = at.Add(61 * time.Minute); at.Year() > 2026 {
			at = mustTime(b, "2026-01-01T00:00:00Z")
		}
	}
}

func BenchmarkOverlapsHalfHourly(b *testing.B) {
	s := spec{start: "2026-01-01T00:00:00Z", cron: "*/30 * * * *", duration: 10 * time.Minute, zone: "Europe/Berlin"}.build(b)
	for b.Loop() {
		if err := s.Overlaps(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoadLocation(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{name: "", want: "UTC"},
		{name: "UTC", want: "UTC"},
		{name: "Europe/Berlin", want: "Europe/Berlin"},
		{name: "Local", err: `unknown IANA time zone "Local"`},
		{name: "Mars/Base", err: `unknown IANA time zone "Mars/Base"`},
		{name: "../etc/passwd", err: `unknown IANA time zone "../etc/passwd"`},
	}
	for _, tt := range tests {
		loc, err := LoadLocation(tt.name)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("LoadLocation(%q) = %v, %v; want error %q", tt.name, loc, err, tt.err)
			}
			continue
		}
		if err != nil || loc.String() != tt.want {
			t.Errorf("LoadLocation(%q) = %v, %v; want %s", tt.name, loc, err, tt.want)
		}
	}
}
