package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/ssogate/ssogate/internal/storage"
)

// Unfiltered member lists (an IdP's import: startIndex=1, 101, 201, ...
// count=100) are served without walking the org.
//
// The total is the org's count in member_counts, which triggers keep
// (Dialect.MemberCount). OFFSET N costs N steps through the index (11 ms at
// 100,000 members); instead, the keys of the rows at every
// MemberAnchorStep-th position are remembered per org, under the version
// member_counts bumps at every membership added or removed, so a page
// starts from the nearest anchor below it with an OFFSET under the step.
// Anchors are found on demand, each from the one before it, so a first
// deep page costs what OFFSET costs and later pages a few hundred steps.
//
// The version, the anchors and the page are read by separate queries, as
// the page and the total already were: a write between them can shift a
// paging client by the rows just added or removed, never more.

// MemberAnchorStep is the distance between anchors (a variable for tests).
var MemberAnchorStep = 1000

// MaxCountRows is how many member_counts rows a page read sums before it
// folds them (Dialect.FoldOrgCounts; a variable for tests): PostgreSQL
// keeps a row per membership added or removed until the sweep, and an IdP
// reading pages right after a push of thousands would sum them all at
// every page.
var MaxCountRows = 256

// maxAnchoredOrgs bounds the orgs whose anchors are kept.
const maxAnchoredOrgs = 64

type memberKey struct {
	createdAt int64
	id        string
}

// orgAnchors are an org's anchors at one version: keys[j] is the key of
// the row at position (j+1)*MemberAnchorStep (0-based).
type orgAnchors struct {
	version int64
	keys    []memberKey
}

type anchorCache struct {
	mu   sync.Mutex
	orgs map[int64]*orgAnchors
}

// AnchorsKept returns how many anchors s keeps for the org, for tests.
func (s *Store) AnchorsKept(orgID int64) int {
	s.anchors.mu.Lock()
	defer s.anchors.mu.Unlock()
	if a := s.anchors.orgs[orgID]; a != nil {
		return len(a.keys)
	}
	return 0
}

const (
	QFirstAnchor     = "SELECT created_at, id FROM memberships WHERE org_id = ? ORDER BY created_at, id LIMIT 1 OFFSET ?"
	QNextAnchor      = "SELECT created_at, id FROM memberships WHERE org_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT 1 OFFSET ?"
	QPageFromStart   = "SELECT rowid AS r FROM memberships WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?"
	QPageFromAnchor  = "SELECT rowid AS r FROM memberships WHERE org_id = ? AND (created_at, id) >= (?, ?) ORDER BY created_at, id LIMIT ? OFFSET ?"
	memberPageSelect = "SELECT " + MemberColumns + " FROM (%s) p JOIN memberships m ON m.rowid = p.r" +
		" JOIN accounts a ON a.id = m.account_id ORDER BY m.created_at, m.id"
)

var (
	qMembersFromStart  = fmt.Sprintf(memberPageSelect, QPageFromStart)
	qMembersFromAnchor = fmt.Sprintf(memberPageSelect, QPageFromAnchor)
)

// findAllMembers is FindMembers without a filter.
func (s *Store) findAllMembers(ctx context.Context, orgID int64, q storage.Query) ([]storage.Member, int, error) {
	var total, countRows int
	var version int64
	err := s.b.Cached().QueryRowContext(ctx, s.d.MemberCount, orgID).Scan(&total, &version, &countRows)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil // no member was ever added
	}
	if err != nil {
		return nil, 0, fmt.Errorf("counting members: %w", err)
	}
	if countRows > MaxCountRows && s.d.FoldOrgCounts != "" {
		if err := s.b.Alone(ctx, s.d.FoldOrgCounts, orgID, orgID); err != nil {
			return nil, 0, fmt.Errorf("folding member counts: %w", err)
		}
	}
	offset, limit := queryBounds(q)
	if limit == 0 || offset >= total {
		return nil, total, nil
	}
	query, args := qMembersFromStart, []any{orgID, s.d.Limit(limit), offset}
	if a := offset / MemberAnchorStep; a > 0 {
		key, err := s.memberAnchor(ctx, orgID, version, a-1)
		if err != nil {
			return nil, 0, err
		}
		if key != nil {
			query, args = qMembersFromAnchor, []any{orgID, key.createdAt, key.id, s.d.Limit(limit), offset - a*MemberAnchorStep}
		}
	}
	rows, err := s.b.Cached().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("listing members: %w", err)
	}
	out, err := Collect(rows, ScanMember)
	if err != nil {
		return nil, 0, fmt.Errorf("listing members: %w", err)
	}
	return out, total, nil
}

// memberAnchor returns anchor j of the org at version, finding the
// missing anchors up to it; nil when the org has fewer rows than that
// (rows removed since the total was read).
func (s *Store) memberAnchor(ctx context.Context, orgID, version int64, j int) (*memberKey, error) {
	c := &s.anchors
	c.mu.Lock()
	defer c.mu.Unlock()
	oa := c.orgs[orgID]
	if oa == nil || oa.version != version {
		if c.orgs == nil {
			c.orgs = map[int64]*orgAnchors{}
		}
		if len(c.orgs) >= maxAnchoredOrgs {
			clear(c.orgs)
		}
		oa = &orgAnchors{version: version}
		c.orgs[orgID] = oa
	}
	for len(oa.keys) <= j {
		var k memberKey
		var err error
		if n := len(oa.keys); n == 0 {
			err = s.b.Cached().QueryRowContext(ctx, QFirstAnchor, orgID, MemberAnchorStep).Scan(&k.createdAt, &k.id)
		} else {
			prev := oa.keys[n-1]
			err = s.b.Cached().QueryRowContext(ctx, QNextAnchor, orgID, prev.createdAt, prev.id, MemberAnchorStep-1).Scan(&k.createdAt, &k.id)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finding page anchors: %w", err)
		}
		oa.keys = append(oa.keys, k)
	}
	k := oa.keys[j]
	return &k, nil
}
