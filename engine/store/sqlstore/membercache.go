package sqlstore

import (
	"slices"
	"sync"
	"time"
)

// maxCachedMembers bounds the member contexts kept in memory (a few
// hundred bytes each); past it an arbitrary entry makes room.
const maxCachedMembers = 1 << 17

// cachedMember is what pricing reads of a member's row: enrolment never
// changes once enrolled, the tier changes only in writeTier, the tags
// only in PatchMember (which counts them in tagsRev).
type cachedMember struct {
	tags       []string
	tagsRev    int64
	enrolledAt time.Time
	tier       string
	// membership names the active or cancelling membership ("" for none)
	// and membershipEnd ends its period.
	membership    string
	membershipEnd time.Time
}

// memberCache keeps the member rows pricing reads, so that pricing an
// event needs no database read: on PostgreSQL a round trip per request, on
// SQLite pages read again from the files, since SQLite discards a read
// connection's whole page cache whenever another connection has committed.
//
// A cached tier may be older than the database's where other processes
// write it (engine replicas on one PostgreSQL). That costs a second
// pricing, never a wrong price: an earn carries the tier it was priced for
// and is refused under the member's lock if the member is in another
// (ledger.EarnRequest.PricedTier), then priced again from the database.
//
// This store's writer drops a member after a commit that changed its tier,
// before the commit is answered, so a client told of a tier change is not
// refused for it on its next earn. A read that missed fills in what it read
// only if no commit dropped anything meanwhile: its row may predate that
// commit.
type memberCache struct {
	mu sync.Mutex
	// gen counts the drops; a fill taken before one is discarded.
	gen uint64
	m   map[string]cachedMember
}

func newMemberCache() *memberCache {
	return &memberCache{m: map[string]cachedMember{}}
}

// get returns the cached member.
func (c *memberCache) get(id string) (cachedMember, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[id]
	m.tags = slices.Clone(m.tags) // callers may change theirs
	return m, ok
}

// generation is read before the database is, for fill.
func (c *memberCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill caches rows read from the database after generation returned gen.
func (c *memberCache) fill(gen uint64, rows map[string]cachedMember) {
	if len(rows) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return // a tier changed since the read began: the rows may be older
	}
	for id, m := range rows {
		if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedMembers {
			for old := range c.m {
				delete(c.m, old)
				break
			}
		}
		m.tags = slices.Clone(m.tags)
		c.m[id] = m
	}
}

// drop forgets members whose row a commit changed.
func (c *memberCache) drop(ids []string) {
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.m, id)
	}
}
