// Package render turns loyalty objects into what the operator writes: the
// engine's configuration snapshot and the engine's Kubernetes objects. Every
// function is pure, so rendering is tested without a cluster.
package render

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/schedule"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// ProgramObjects is a program and every object that refers to it.
type ProgramObjects struct {
	Program   *loyaltyv1alpha1.LoyaltyProgram
	Tiers     []loyaltyv1alpha1.Tier
	Catalogs  []loyaltyv1alpha1.RewardCatalog
	Campaigns []loyaltyv1alpha1.Campaign
}

// ObjectRef names one loyalty object of a program.
type ObjectRef struct {
	Kind string
	Name string
}

func (r ObjectRef) String() string { return r.Kind + " " + r.Name }

// Resolution is the snapshot of a program's valid objects and why the others
// were left out. The program controller writes the snapshot; the Tier,
// RewardCatalog and Campaign controllers report Problems, so that both always
// agree on which objects are in effect.
type Resolution struct {
	Snapshot *config.Snapshot
	// ProgramProblem is why no snapshot could be rendered at all; empty when Snapshot is set.
	ProgramProblem string
	// Problems says why each left-out object was left out.
	Problems map[ObjectRef]Problem
}

// Problem is why an object is not in effect. The message names the object
// and, for a conflict, the object it conflicts with.
type Problem struct {
	Reason  string
	Message string
}

// Reasons an object is left out of its program's snapshot.
const (
	ReasonConflict    = "Conflict"
	ReasonUnknownTier = "UnknownTier"
	ReasonNoEntryTier = "NoEntryTier"
	ReasonInvalid     = "Invalid"
	// ReasonUnknownAction: a campaign rewards an action its program does
	// not declare, which no event could ever earn.
	ReasonUnknownAction = "UnknownAction"
	// ReasonUnknownMembership: a campaign's audience names a membership its
	// program does not declare, which no member could ever hold.
	ReasonUnknownMembership = "UnknownMembership"
)

// Resolve renders the snapshot of a program. Objects are considered oldest
// first (by creation time, then name), so a newcomer that conflicts with an
// object already in effect is the one left out and the running program keeps
// its configuration.
func Resolve(in ProgramObjects) Resolution {
	res := Resolution{Problems: map[ObjectRef]Problem{}}
	snap, err := programSnapshot(in.Program)
	if err != nil {
		res.ProgramProblem = err.Error()
		return res
	}
	program := in.Program.Name

	tiersByName := map[string]bool{}
	rankHolder := map[int32]string{}
	var tiers []config.Tier
	for _, t := range oldestFirst(in.Tiers, func(t loyaltyv1alpha1.Tier) createdName { return byAge(t.CreationTimestamp.Time, t.Name) }) {
		ref := ObjectRef{"Tier", t.Name}
		if holder, taken := rankHolder[t.Spec.Rank]; taken {
			res.Problems[ref] = Problem{ReasonConflict, fmt.Sprintf("Tier %s has rank %d, which Tier %s of program %s already holds; ranks must be unique within a program", t.Name, t.Spec.Rank, holder, program)}
			continue
		}
		ct, err := tierConfig(t)
		if err != nil {
			res.Problems[ref] = Problem{ReasonInvalid, fmt.Sprintf("Tier %s: %v", t.Name, err)}
			continue
		}
		rankHolder[t.Spec.Rank] = t.Name
		tiersByName[t.Name] = true
		tiers = append(tiers, ct)
	}
	if _, hasEntry := rankHolder[0]; len(tiers) > 0 && !hasEntry {
		for _, t := range tiers {
			res.Problems[ObjectRef{"Tier", t.Name}] = Problem{ReasonNoEntryTier, fmt.Sprintf("program %s has no entry tier: add a Tier with rank 0 before Tier %s can take effect", program, t.Name)}
		}
		tiers, tiersByName = nil, map[string]bool{}
	}
	snap.Tiers = tiers
	for _, m := range snap.Memberships {
		if f := m.Benefits.TierFloor; f != "" && !tiersByName[f] {
			res.ProgramProblem = fmt.Sprintf("spec.memberships[%s].benefits.tierFloor names Tier %s, which is not a tier in effect in program %s", m.Name, f, program)
			return res
		}
	}

	rewardOwner := map[string]string{}
	for _, c := range oldestFirst(in.Catalogs, func(c loyaltyv1alpha1.RewardCatalog) createdName { return byAge(c.CreationTimestamp.Time, c.Name) }) {
		ref := ObjectRef{"RewardCatalog", c.Name}
		rewards, problem := catalogRewards(c, tiersByName, rewardOwner, program)
		if problem.Reason == "" {
			problem = checkEligibility(c, in.Program)
		}
		if problem.Reason != "" {
			res.Problems[ref] = problem
			continue
		}
		for _, r := range rewards {
			rewardOwner[r.ID] = c.Name
		}
		snap.Rewards = append(snap.Rewards, rewards...)
	}

	for _, c := range oldestFirst(in.Campaigns, func(c loyaltyv1alpha1.Campaign) createdName { return byAge(c.CreationTimestamp.Time, c.Name) }) {
		ref := ObjectRef{"Campaign", c.Name}
		cc, err := campaignConfig(c)
		if err != nil {
			res.Problems[ref] = Problem{ReasonInvalid, fmt.Sprintf("Campaign %s: %v", c.Name, err)}
			continue
		}
		if err := checkWindows(c); err != nil {
			res.Problems[ref] = Problem{ReasonInvalid, fmt.Sprintf("Campaign %s: %v", c.Name, err)}
			continue
		}
		if err := checkAudience(c, tiersByName, program); err != nil {
			res.Problems[ref] = Problem{ReasonUnknownTier, fmt.Sprintf("Campaign %s: %v", c.Name, err)}
			continue
		}
		if err := checkMemberships(c, in.Program); err != nil {
			res.Problems[ref] = Problem{ReasonUnknownMembership, fmt.Sprintf("Campaign %s: %v", c.Name, err)}
			continue
		}
		if err := checkActions(c, in.Program); err != nil {
			res.Problems[ref] = Problem{ReasonUnknownAction, fmt.Sprintf("Campaign %s: %v", c.Name, err)}
			continue
		}
		snap.Campaigns = append(snap.Campaigns, cc)
	}

	// The checks above mirror the engine's; validating the whole snapshot as
	// the engine will keeps a gap between them from shipping a snapshot every
	// engine replica would reject.
	if err := snap.Validate(); err != nil {
		res.ProgramProblem = fmt.Sprintf("the rendered snapshot is invalid: %v", err)
		return res
	}
	res.Snapshot = snap
	return res
}

type createdName struct {
	created time.Time
	name    string
}

func byAge(created time.Time, name string) createdName { return createdName{created, name} }

func oldestFirst[T any](items []T, key func(T) createdName) []T {
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int {
		ka, kb := key(a), key(b)
		return cmp.Or(ka.created.Compare(kb.created), cmp.Compare(ka.name, kb.name))
	})
	return sorted
}

// ScheduleOf evaluates a Campaign's schedule.
func ScheduleOf(c loyaltyv1alpha1.Campaign) (*schedule.Schedule, error) {
	s := c.Spec.Schedule
	var end *time.Time
	if s.End != nil {
		end = &s.End.Time
	}
	var rec *schedule.Recurrence
	if r := s.Recurrence; r != nil {
		d, err := time.ParseDuration(r.Duration)
		if err != nil {
			return nil, fmt.Errorf("spec.schedule.recurrence.duration: %w", err)
		}
		rec = &schedule.Recurrence{Cron: r.Cron, Duration: d}
	}
	sched, err := schedule.New(s.Start.Time, end, rec, s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("spec.schedule: %w", err)
	}
	return sched, nil
}

// checkWindows refuses a recurrence whose windows would overlap, which the
// API server can only catch for simple cron expressions.
func checkWindows(c loyaltyv1alpha1.Campaign) error {
	sched, err := ScheduleOf(c)
	if err != nil {
		return err
	}
	if err := sched.Overlaps(); err != nil {
		return fmt.Errorf("spec.schedule.%w", err)
	}
	return nil
}

func checkAudience(c loyaltyv1alpha1.Campaign, tiers map[string]bool, program string) error {
	if c.Spec.Audience == nil {
		return nil
	}
	for _, t := range c.Spec.Audience.Tiers {
		if !tiers[t] {
			return fmt.Errorf("audience names Tier %s, which is not a tier in effect in program %s", t, program)
		}
	}
	return nil
}

func checkMemberships(c loyaltyv1alpha1.Campaign, p *loyaltyv1alpha1.LoyaltyProgram) error {
	if c.Spec.Audience == nil {
		return nil
	}
	declared := map[string]bool{}
	for _, m := range p.Spec.Memberships {
		declared[m.Name] = true
	}
	for i, m := range c.Spec.Audience.Memberships {
		if !declared[m] {
			return fmt.Errorf("spec.audience.memberships[%d]: %q is not a membership of program %s", i, m, p.Name)
		}
	}
	return nil
}

// checkActions refuses an action bonus for an action the program does not
// declare: the engine refuses to earn such an action, so the bonus could
// never apply.
func checkActions(c loyaltyv1alpha1.Campaign, p *loyaltyv1alpha1.LoyaltyProgram) error {
	declared := map[string]bool{}
	for _, a := range p.Spec.Points.Actions {
		declared[a.Name] = true
	}
	for i, b := range c.Spec.Rules.ActionBonuses {
		if !declared[b.Action] {
			return fmt.Errorf("spec.rules.actionBonuses[%d].action: %q is not an action of program %s", i, b.Action, p.Name)
		}
	}
	return nil
}

// checkEligibility refuses a reward for a membership the program does not
// declare, which no member could ever hold.
func checkEligibility(c loyaltyv1alpha1.RewardCatalog, p *loyaltyv1alpha1.LoyaltyProgram) Problem {
	declared := map[string]bool{}
	for _, m := range p.Spec.Memberships {
		declared[m.Name] = true
	}
	for i, r := range c.Spec.Rewards {
		if r.Eligibility == nil {
			continue
		}
		for j, m := range r.Eligibility.Memberships {
			if !declared[m] {
				return Problem{ReasonUnknownMembership, fmt.Sprintf("RewardCatalog %s: spec.rewards[%d].eligibility.memberships[%d]: %q is not a membership of program %s", c.Name, i, j, m, p.Name)}
			}
		}
	}
	return Problem{}
}

func catalogRewards(c loyaltyv1alpha1.RewardCatalog, tiers map[string]bool, owner map[string]string, program string) ([]config.Reward, Problem) {
	var rewards []config.Reward
	for _, r := range c.Spec.Rewards {
		if other, taken := owner[r.ID]; taken {
			return nil, Problem{ReasonConflict, fmt.Sprintf("RewardCatalog %s: reward id %s is already used by RewardCatalog %s of program %s; reward ids must be unique within a program", c.Name, r.ID, other, program)}
		}
		if r.MinimumTier != "" && !tiers[r.MinimumTier] {
			return nil, Problem{ReasonUnknownTier, fmt.Sprintf("RewardCatalog %s: reward %s has minimumTier %s, which is not a tier in effect in program %s", c.Name, r.ID, r.MinimumTier, program)}
		}
		cr, err := rewardConfig(r)
		if err != nil {
			return nil, Problem{ReasonInvalid, fmt.Sprintf("RewardCatalog %s: reward %s: %v", c.Name, r.ID, err)}
		}
		rewards = append(rewards, cr)
	}
	return rewards, Problem{}
}
