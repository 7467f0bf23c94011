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
