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
