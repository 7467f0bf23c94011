package sqlstore

import (
	"slices"
	"sync"
	"time"
)

// maxCachedMembers bounds the member contexts kept in memory (a few
// hundred bytes each); past it an arbitrary entry makes room.
const maxCachedMembers = 1 << 17

// cachedMember is what pricing reads of a member's row: tags and enrolment
// never change once enrolled, the tier changes only in writeTier.
type cachedMember struct {
	tags       []string
	enrolledAt time.Time
	tier       string
}

// memberCache keeps the member rows pricing reads, for a database that only
// this store's writer changes (Dialect.SoleWriter). SQLite discards a read
// connection's whole page cache whenever another connection has committed,
// so every pricing read otherwise reads its pages again from the files.
//
// The writer drops a member after a commit that changed its tier, before
// the commit is answered, so no client sees a tier change and then a price
// from the old tier. A read that missed fills in what it read only if no
// commit dropped anything meanwhile: its row may predate that commit.
type memberCache struct {
	mu sync.Mutex
	// gen counts the drops; a fill taken before one is discarded.
	gen uint64
	m   map[string]cachedMember
}

func newMemberCache() *memberCache {
	return &memberCache{m: map[string]cachedMember{}}
}

// get returns the cached member; a nil cache misses everything.
func (c *memberCache) get(id string) (cachedMember, bool) {
	if c == nil {
		return cachedMember{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[id]
	m.tags = slices.Clone(m.tags) // callers may change theirs
	return m, ok
}

// generation is read before the database is, for fill.
func (c *memberCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill caches rows read from the database after generation returned gen.
func (c *memberCache) fill(gen uint64, rows map[string]cachedMember) {
	if c == nil || len(rows) == 0 {
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
	if c == nil || len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.m, id)
	}
}
