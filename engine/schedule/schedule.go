// Package schedule evaluates campaign schedules: whether an instant is inside
// a campaign window, which phase a campaign is in, and when its next window
// opens or closes. It is pure computation, shared by the points engine and the
// Campaign controller.
//
// A schedule is a single window [start, end), or the windows of a recurrence
// inside it. Each cron occurrence o (see Next for how cron matches wall clocks
// in the schedule's time zone) opens the window [o, o+duration), clipped to
// [start, end): an occurrence before start whose window reaches past start
// counts from start, and a window reaching past end stops at end. The
// duration is elapsed time, not wall-clock time: a 2h window opened at 01:30
// on a fall-back night closes two hours later, at 02:30 on the wall clock of
// the second pass through the repeated hour.
//
// Times returned are in the schedule's time zone.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones load the same on every machine and image
)

// Phases, with the values of the Campaign API's CampaignPhase.
const (
	// PhaseScheduled has no window now but one later.
	PhaseScheduled = "Scheduled"
	// PhaseActive is inside a window.
	PhaseActive = "Active"
	// PhasePaused is paused and not completed.
	PhasePaused = "Paused"
	// PhaseCompleted has no window now or later.
	PhaseCompleted = "Completed"
)

// GapHorizon is how far past start MinGap and Overlaps look for the shortest
// time between occurrences: two years see every daylight saving change of a
// zone's yearly pattern and every month length.
const GapHorizon = 2 * 365 * 24 * time.Hour

// Window is a half-open interval [Start, End).
type Window struct {
	Start, End time.Time
}

// Contains reports whether t is in [Start, End).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Recurrence opens a window of Duration at every match of Cron, a five-field
// expression or descriptor as accepted by ParseCron.
type Recurrence struct {
	Cron     string
	Duration time.Duration
}

// Schedule is a campaign schedule ready for evaluation. It is immutable and
// safe for concurrent use.
type Schedule struct {
	start  time.Time
	end    time.Time
	hasEnd bool
	loc    *time.Location
	// Recurrence; cronText is empty for a single window.
	cronText string
	cron     Cron
	duration time.Duration
}

// New builds a schedule from the Campaign API's values. end may be nil only
// with a recurrence; timeZone is an IANA name, "" meaning UTC.
func New(start time.Time, end *time.Time, rec *Recurrence, timeZone string) (*Schedule, error) {
	loc, err := LoadLocation(timeZone)
	if err != nil {
		return nil, fmt.Errorf("timeZone: %w", err)
	}
	s := &Schedule{start: start, loc: loc}
	if end != nil {
		if !end.After(start) {
			return nil, fmt.Errorf("end %s must be after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
		}
		s.end, s.hasEnd = *end, true
	}
	if rec == nil {
		if end == nil {
			return nil, errors.New("end is required unless recurrence is set")
		}
		return s, nil
	}
	if s.cron, err = ParseCron(rec.Cron); err != nil {
		return nil, fmt.Errorf("recurrence.cron: %w", err)
	}
	if rec.Duration <= 0 {
		return nil, fmt.Errorf("recurrence.duration %s must be longer than zero", rec.Duration)
	}
	s.cronText, s.duration = rec.Cron, rec.Duration
	return s, nil
}

// LoadLocation loads the IANA time zone name, "" meaning UTC. "Local", the
// zone of whichever machine evaluates the schedule, is refused: a campaign
// must open at the same instant in the operator and in every engine. The
// zone database is built in, so a zone loads the same everywhere.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("unknown IANA time zone %q", name)
	}
	return loc, nil
}

// Location is the time zone the recurrence is evaluated in.
func (s *Schedule) Location() *time.Location { return s.loc }

// WindowAt returns the window containing t, false when t is in none.
//
// Should occurrences come closer together than the duration (Overlaps fails),
// the windows overlap and WindowAt returns the one opened first; t is inside
// some window exactly when it is inside the one returned.
func (s *Schedule) WindowAt(t time.Time) (Window, bool) {
	if t.Before(s.start) || s.hasEnd && !t.Before(s.end) {
		return Window{}, false
	}
	if s.cronText == "" {
		return s.clip(s.start, s.end), true
	}
	// The earliest occurrence in (t-duration, t] is the first whose window
	// still contains t.
	o, ok := next(s.cron, t.Add(-s.duration), s.loc)
	if !ok || o.After(t) {
		return Window{}, false
	}
	return s.clip(o, o.Add(s.duration)), true
}

// clip returns [from, to) cut to [start, end), in the schedule's zone.
func (s *Schedule) clip(from, to time.Time) Window {
	if from.Before(s.start) {
		from = s.start
	}
	if s.hasEnd && to.After(s.end) {
		to = s.end
	}
	return Window{Start: from.In(s.loc), End: to.In(s.loc)}
}

// NextTransition returns the first instant strictly after t at which
// WindowAt changes: the end of the window containing t, or else the start of
// the next window. It returns false when there is none: the schedule is
// complete, or a recurrence has no occurrence within SearchYears.
func (s *Schedule) NextTransition(t time.Time) (time.Time, bool) {
	if w, ok := s.WindowAt(t); ok {
		return w.End, true
	}
	if t.Before(s.start) {
		if _, ok := s.WindowAt(s.start); ok {
			return s.start.In(s.loc), true
		}
		// No window covers start, so the next one opens at an occurrence
		// strictly after it.
		t = s.start
	}
	if s.cronText == "" {
		return time.Time{}, false
	}
	o, ok := next(s.cron, t, s.loc)
	if !ok || s.hasEnd && !o.Before(s.end) {
		return time.Time{}, false
	}
	return o, true
}

// Phase returns the campaign's phase at now, the window containing now, and
// the instant of the next transition, at which the controller should look
// again.
//
//   - Completed: no window contains now and none opens later; current and
//     next are nil. Completed wins over paused.
//   - Paused: paused and not completed. current and next are what they would
//     be unpaused, so that status keeps showing the schedule and the
//     controller still notices completion.
//   - Active: now is inside current; next is its end.
//   - Scheduled: no window now; next is when the next one opens.
func (s *Schedule) Phase(now time.Time, paused bool) (phase string, current *Window, next *time.Time) {
	if w, ok := s.WindowAt(now); ok {
		current = &w
	}
	if n, ok := s.NextTransition(now); ok {
		next = &n
	}
	switch {
	case current == nil && next == nil:
		return PhaseCompleted, nil, nil
	case paused:
		return PhasePaused, current, next
	case current != nil:
		return PhaseActive, current, next
	default:
		return PhaseScheduled, nil, next
	}
}

// Gap is the elapsed time between two consecutive occurrences.
type Gap struct {
	Duration time.Duration
	From, To time.Time
}

// MinGap returns the shortest elapsed time between two consecutive
// occurrences whose windows reach into [start, end), looking at occurrences
// before start+GapHorizon, and evaluated in the time zone: across a
// spring-forward night two daily occurrences are 23h apart. It returns false
// for a single window or fewer than two occurrences. Its cost grows with the
// number of occurrences in the horizon (about a million for "* * * * *").
func (s *Schedule) MinGap() (Gap, bool) {
	if s.cronText == "" {
		return Gap{}, false
	}
	limit := s.start.Add(GapHorizon)
	if s.hasEnd && s.end.Before(limit) {
		limit = s.end
	}
	var best Gap
	found := false
	prev, ok := next(s.cron, s.start.Add(-s.duration), s.loc)
	for ok && prev.Before(limit) {
		var o time.Time
		if o, ok = next(s.cron, prev, s.loc); !ok || !o.Before(limit) {
			break
		}
		if gap := o.Sub(prev); !found || gap < best.Duration {
			best, found = Gap{Duration: gap, From: prev, To: o}, true
		}
		prev = o
	}
	return best, found
}

// Overlaps returns an error when the recurrence's duration is not shorter
// than MinGap, so that two windows would overlap or touch; nil otherwise.
func (s *Schedule) Overlaps() error {
	g, ok := s.MinGap()
	if !ok || s.duration < g.Duration {
		return nil
	}
	return fmt.Errorf("recurrence.duration %s is not shorter than the %s between the occurrences at %s and %s of %q in %s",
		formatDuration(s.duration), formatDuration(g.Duration),
		g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), s.cronText, s.loc)
}

// formatDuration writes d in the Campaign API's style, such as "23h" or
// "1h30m", rather than time.Duration's "23h0m0s".
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if q := d / u.unit; q > 0 {
			fmt.Fprintf(&b, "%d%s", q, u.name)
			d -= q * u.unit
		}
	}
	return b.String()
}
