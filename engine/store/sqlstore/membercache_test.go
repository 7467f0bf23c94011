package sqlstore

import (
	"fmt"
	"testing"
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

func TestNilMemberCacheMisses(t *testing.T) {
	var c *memberCache
	c.fill(c.generation(), map[string]cachedMember{"m1": {}})
	c.drop([]string{"m1"})
	if _, ok := c.get("m1"); ok {
		t.Fatal("a nil cache hit")
	}
}
