package render_test

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func TestResolveRendersTimeZoneAndActionLimits(t *testing.T) {
	p := program()
	p.Spec.TimeZone = "Asia/Seoul"
	p.Spec.Points.Actions = []loyaltyv1alpha1.ActionReward{
		{Name: "review", Points: 20, MaxPerDay: ptr.To[int32](1)},
		{Name: "app-download", Points: 500, Limit: &loyaltyv1alpha1.ActionLimit{Count: 1, Per: loyaltyv1alpha1.LimitPerLifetime}},
		{Name: "workout", Points: 10, Limit: &loyaltyv1alpha1.ActionLimit{Count: 3, Per: loyaltyv1alpha1.LimitPerWeek}},
	}
	res := render.Resolve(render.ProgramObjects{Program: p})
	if res.ProgramProblem != "" {
		t.Fatalf("no snapshot: %s", res.ProgramProblem)
	}
	s := res.Snapshot
	if s.Program.TimeZone != "Asia/Seoul" || s.Location().String() != "Asia/Seoul" {
		t.Errorf("time zone rendered as %q (%s)", s.Program.TimeZone, s.Location())
	}
	want := map[string]config.ActionLimit{
		"review":       {Count: 1, Per: config.LimitDay},
		"app-download": {Count: 1, Per: config.LimitLifetime},
		"workout":      {Count: 3, Per: config.LimitWeek},
	}
	for _, a := range s.Points.Actions {
		if l := a.EffectiveLimit(); l == nil || *l != want[a.Name] {
			t.Errorf("action %s limit rendered as %+v, want %+v", a.Name, l, want[a.Name])
		}
	}

	// A program without a zone (created before the field) counts in UTC.
	p.Spec.TimeZone = ""
	if res := render.Resolve(render.ProgramObjects{Program: p}); res.Snapshot == nil || res.Snapshot.Program.TimeZone != "UTC" {
		t.Errorf("empty time zone rendered as %+v", res)
	}
}

func TestResolveRefusesAnUnknownTimeZone(t *testing.T) {
	p := program()
	p.Spec.TimeZone = "Europe/Atlantis" // matches the API server's pattern
	res := render.Resolve(render.ProgramObjects{Program: p})
	if res.Snapshot != nil || !strings.Contains(res.ProgramProblem, "spec.timeZone") || !strings.Contains(res.ProgramProblem, `"Europe/Atlantis"`) {
		t.Errorf("unknown zone: snapshot %v, problem %q; want none and a problem naming spec.timeZone", res.Snapshot != nil, res.ProgramProblem)
	}
	p.Spec.TimeZone = "UTC"
	p.Spec.Points.Actions = []loyaltyv1alpha1.ActionReward{{Name: "review", Points: 20, MaxPerDay: ptr.To[int32](1),
		Limit: &loyaltyv1alpha1.ActionLimit{Count: 2, Per: loyaltyv1alpha1.LimitPerWeek}}}
	if res := render.Resolve(render.ProgramObjects{Program: p}); res.Snapshot != nil || !strings.Contains(res.ProgramProblem, "maxPerDay: set limit or maxPerDay, not both") {
		t.Errorf("both limits: problem %q", res.ProgramProblem)
	}
}

func TestResolveRendersBirthdayPoints(t *testing.T) {
	tests := []struct {
		name string
		in   *loyaltyv1alpha1.BirthdayReward
		want *config.BirthdayReward
	}{
		{"none", nil, nil},
		{"window defaults to the day", &loyaltyv1alpha1.BirthdayReward{Points: 250}, &config.BirthdayReward{Points: 250, Window: config.LimitDay}},
		{"week", &loyaltyv1alpha1.BirthdayReward{Points: 100, Window: "Week"}, &config.BirthdayReward{Points: 100, Window: config.LimitWeek}},
		{"month", &loyaltyv1alpha1.BirthdayReward{Points: 1, Window: "Month"}, &config.BirthdayReward{Points: 1, Window: config.LimitMonth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := program()
			p.Spec.Points.Birthday = tt.in
			res := render.Resolve(render.ProgramObjects{Program: p})
			if res.ProgramProblem != "" {
				t.Fatalf("no snapshot: %s", res.ProgramProblem)
			}
			got := res.Snapshot.Points.Birthday
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("birthday rendered as %+v, want %+v", got, tt.want)
			}
		})
	}
	p := program()
	p.Spec.Points.Birthday = &loyaltyv1alpha1.BirthdayReward{Points: 10, Window: "Year"}
	if res := render.Resolve(render.ProgramObjects{Program: p}); res.Snapshot != nil || !strings.Contains(res.ProgramProblem, "points.birthday.window") {
		t.Errorf("window Year: snapshot %v, problem %q; want none and a problem naming points.birthday.window", res.Snapshot != nil, res.ProgramProblem)
	}
}
