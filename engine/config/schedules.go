package config

import (
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// Compile builds the schedule ready for evaluation.
func (c CampaignSchedule) Compile() (*schedule.Schedule, error) {
	var end *time.Time
	if c.End != nil {
		e := c.End.T()
		end = &e
	}
	var rec *schedule.Recurrence
	if r := c.Recurrence; r != nil {
		rec = &schedule.Recurrence{Cron: r.Cron, Duration: r.Duration.D()}
	}
	return schedule.New(c.Start.T(), end, rec, c.TimeZone)
}

// Schedule returns c, one of the snapshot's campaign schedules, ready for
// evaluation. Validate compiles every schedule of a valid snapshot once, so
// that pricing an event neither loads a time zone nor parses a cron
// expression; they live and die with the snapshot. A schedule Validate did
// not compile (a snapshot built or changed in code since) is compiled on
// the spot: the lookup is by value, so it never finds a stale one.
func (s *Snapshot) Schedule(c CampaignSchedule) (*schedule.Schedule, error) {
	if sch, ok := s.schedules[scheduleKeyOf(c)]; ok {
		return sch, nil
	}
	return c.Compile()
}

// compileSchedules compiles the campaigns' schedules. One that fails is left
// out, for Schedule to report when it is evaluated; Validate has already
// refused every schedule that cannot compile.
func compileSchedules(campaigns []Campaign) map[scheduleKey]*schedule.Schedule {
	compiled := make(map[scheduleKey]*schedule.Schedule, len(campaigns))
	for _, c := range campaigns {
		if sch, err := c.Schedule.Compile(); err == nil {
			compiled[scheduleKeyOf(c.Schedule)] = sch
		}
	}
	return compiled
}

// scheduleKey identifies a schedule by value. It is a comparable struct
// rather than a formatted string so that a lookup allocates nothing.
type scheduleKey struct {
	start, end     int64
	hasEnd         bool
	cron, timeZone string
	duration       time.Duration
}

func scheduleKeyOf(c CampaignSchedule) scheduleKey {
	k := scheduleKey{start: c.Start.T().UnixNano(), timeZone: c.TimeZone}
	if c.End != nil {
		k.end, k.hasEnd = c.End.T().UnixNano(), true
	}
	if r := c.Recurrence; r != nil {
		k.cron, k.duration = r.Cron, r.Duration.D()
	}
	return k
}
