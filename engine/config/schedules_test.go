package config

import (
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

func TestCompileSchedule(t *testing.T) {
	end := MustTime("2026-07-01T00:00:00Z")
	s, err := CampaignSchedule{
		Start:      MustTime("2026-06-01T00:00:00Z"),
		End:        &end,
		Recurrence: &Recurrence{Cron: "0 17 * * FRI", Duration: MustDuration("2h")},
		TimeZone:   "Europe/Berlin",
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	w, ok := s.WindowAt(MustTime("2026-06-05T16:00:00Z").T())
	want := schedule.Window{Start: MustTime("2026-06-05T15:00:00Z").T(), End: MustTime("2026-06-05T17:00:00Z").T()}
	if !ok || !w.Start.Equal(want.Start) || !w.End.Equal(want.End) {
		t.Fatalf("WindowAt = %v, %v; want %v", w, ok, want)
	}
	if s.Location().String() != "Europe/Berlin" {
		t.Errorf("Location = %s", s.Location())
	}
	// An empty time zone is UTC, as the snapshot's default.
	s, err = CampaignSchedule{Start: MustTime("2026-06-01T00:00:00Z"), End: &end}.Compile()
	if err != nil || s.Location() != time.UTC {
		t.Fatalf("Compile without zone = %v, %v", s, err)
	}
}

// TestSnapshotSchedules: a parsed snapshot compiles each campaign's schedule
// once and hands out that one; a schedule changed since, or in a snapshot
// never validated, is compiled as it is now, never taken from a stale copy.
func TestSnapshotSchedules(t *testing.T) {
	s, err := Parse(readGood(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Campaigns {
		first, err := s.Schedule(c.Schedule)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := s.Schedule(c.Schedule)
		if first != again || first != s.schedules[scheduleKeyOf(c.Schedule)] {
			t.Errorf("campaign %s: its schedule is compiled again instead of taken from the snapshot", c.Name)
		}
	}

	changed := s.Campaigns[0].Schedule
	changed.TimeZone = "Asia/Tokyo"
	sch, err := s.Schedule(changed)
	if err != nil || sch.Location().String() != "Asia/Tokyo" {
		t.Errorf("a schedule changed after Parse evaluates in %v, %v; want Asia/Tokyo", sch, err)
	}

	built := &Snapshot{Campaigns: s.Campaigns}
	sch, err = built.Schedule(s.Campaigns[0].Schedule)
	if err != nil || sch.Location().String() != s.Campaigns[0].Schedule.TimeZone {
		t.Errorf("a snapshot built in code: %v, %v", sch, err)
	}
	if _, err := built.Schedule(CampaignSchedule{Start: MustTime("2026-06-01T00:00:00Z"), TimeZone: "UTC"}); err == nil {
		t.Error("a schedule that cannot compile must report why")
	}
}
