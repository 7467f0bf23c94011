package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// A read that began before a commit dropped members fills in nothing: its
// rows may predate that commit. One that began after it does.
func TestMemberCacheFillAfterDropIsDiscarded(t *testing.T) {
	c := newMemberCache()
	gen := c.generation()
	c.drop([]string{"m2"}) // a commit changed some member's tier meanwhile
	c.fill(gen, map[string]cachedMember{"m1": {tier: "bronze"}})
	if _, ok := c.get("m1"); ok {
		t.Fatal("a fill older than a drop was cached")
	}
	c.fill(c.generation(), map[string]cachedMember{"m1": {tier: "silver", tags: []string{"vip"}}})
	m, ok := c.get("m1")
	if !ok || m.tier != "silver" {
		t.Fatalf("got %+v, %v; want silver", m, ok)
	}
	m.tags[0] = "changed"
	if m, _ := c.get("m1"); m.tags[0] != "vip" {
		t.Fatalf("a caller changed the cached tags: %q", m.tags)
	}
	c.drop([]string{"m1"})
	if _, ok := c.get("m1"); ok {
		t.Fatal("a dropped member is still cached")
	}
}

func TestMemberCacheIsBounded(t *testing.T) {
	c := newMemberCache()
	for i := range maxCachedMembers + 10 {
		c.fill(c.generation(), map[string]cachedMember{fmt.Sprintf("m%d", i): {}})
	}
	if n := len(c.m); n != maxCachedMembers {
		t.Fatalf("%d members cached, want at most %d", n, maxCachedMembers)
	}
	if _, ok := c.get(fmt.Sprintf("m%d", maxCachedMembers+9)); !ok {
		t.Fatal("the latest fill was not cached")
	}
}

// Enrolment caches the new member as a read of its row would: pricing the
// first earn finds the same member in memory as in the database.
func TestEnrolmentPrimesMemberCache(t *testing.T) {
	s, _ := openSQLiteStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e1", MemberID: "m1", Tags: []string{"vip", "app"}, EnrolledAt: at}); err != nil {
		t.Fatal(err)
	}
	cached, ok := s.members.get("m1")
	if !ok {
		t.Fatal("the enrolled member is not cached")
	}
	st, err := s.PricingContexts(ctx, []ledger.PricingQuery{{MemberID: "m1", OccurredAt: at, Fresh: true}})
	if err != nil || st[0].Err != nil {
		t.Fatal(err, st[0].Err)
	}
	read := st[0].Member
	if cached.tier != read.Tier || !cached.enrolledAt.Equal(read.EnrolledAt) || cached.enrolledAt.Location() != read.EnrolledAt.Location() ||
		!slices.Equal(cached.tags, read.Tags) {
		t.Fatalf("cached %+v, read from the database %+v", cached, read)
	}
	// A replayed enrolment writes nothing and caches nothing new.
	s.members.drop([]string{"m1"})
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e1", MemberID: "m1", Tags: []string{"vip", "app"}, EnrolledAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.members.get("m1"); ok {
		t.Fatal("a replayed enrolment cached the member")
	}
}
