// Package sqlfilter turns a SCIM filter (storage.Filter) into a SQL
// condition and its arguments, for the SQLite and the PostgreSQL store
// alike: the tables and the translation are the same, and a Dialect
// names the few functions and spellings where the two differ.
package sqlfilter

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssogate/ssogate/internal/storage"
)

// A column is how one storage.Field reads in SQL, in the context of a
// query on members (aliases m and a), on teams (t), or on one element e of
// a member's emails list.
type column struct {
	expr string
	kind columnKind
}

type columnKind int

const (
	textExact  columnKind = iota // compared byte for byte (SCIM caseExact)
	textNoCase                   // compared ignoring ASCII case
	boolean
	unixTime
	teamMember // the special membership test of FieldMemberID
)

var memberColumnsByField = map[storage.Field]column{
	storage.FieldID:          {"m.id", textExact},
	storage.FieldExternalID:  {"m.external_id", textExact},
	storage.FieldCreated:     {"m.created_at", unixTime},
	storage.FieldUpdated:     {"m.updated_at", unixTime},
	storage.FieldEmail:       {"a.email", textNoCase},
	storage.FieldGivenName:   {"m.given_name", textNoCase},
	storage.FieldFamilyName:  {"m.family_name", textNoCase},
	storage.FieldDisplayName: {"m.display_name", textNoCase},
	storage.FieldActive:      {"m.active", boolean},
}

// emailColumns read the fields of a member_emails row: one element of a
// member's SCIM emails list (migrations/0002_scim.sql).
var emailColumns = map[storage.Field]column{
	storage.FieldEmailValue:   {"me.value", textNoCase},
	storage.FieldEmailType:    {"me.type", textNoCase},
	storage.FieldEmailPrimary: {"me.is_primary", boolean},
}

// impliedEmailColumns read the one implied email of a member that has no
// emails list: its account email, of type work, primary.
var impliedEmailColumns = map[storage.Field]column{
	storage.FieldEmailValue:   {"a2.email", textNoCase},
	storage.FieldEmailType:    {"'work'", textNoCase},
	storage.FieldEmailPrimary: {"1", boolean},
}

var teamColumnsByField = map[storage.Field]column{
	storage.FieldID:         {"t.id", textExact},
	storage.FieldExternalID: {"t.external_id", textExact},
	storage.FieldCreated:    {"t.created_at", unixTime},
	storage.FieldUpdated:    {"t.updated_at", unixTime},
	storage.FieldName:       {"t.name", textNoCase},
	storage.FieldMemberID:   {"t.id", teamMember},
}

// Dialect is what differs between the SQL of the stores. Every
// parameter is written "?"; a store that numbers its parameters rewrites
// them as it runs the query.
type Dialect struct {
	// True is the condition that always holds ("1", "TRUE").
	True string
	// IfNull is the function that replaces a NULL ("IFNULL", "COALESCE").
	IfNull string
	// NoCase returns a case-blind text column's expression and parameter
	// as compared, so that an equality is a probe of the column's index.
	NoCase func(expr string) (lhs, param string)
	// Like is a case-blind LIKE of expr against a pattern escaped with '\'.
	Like func(expr string) string
	// Contains, StartsWith and EndsWith are case-exact substring tests of
	// expr against s, with their arguments; n is s's length in runes.
	Contains   func(expr string) string
	StartsWith func(expr string, n int, s string) (string, []any)
	EndsWith   func(expr string, n int, s string) (string, []any)
}

// sqlWhere turns a filter into a SQL condition and its arguments, reading
// fields through cols. A nil filter is d.True.
type sqlWhere struct {
	d     *Dialect
	b     strings.Builder
	args  []any
	orgID int64
}

// MemberWhere translates a filter on the members of org orgID (aliases m
// for memberships and a for accounts).
func (d *Dialect) MemberWhere(orgID int64, f storage.Filter) (string, []any, error) {
	w := sqlWhere{d: d, orgID: orgID}
	if err := w.filter(f, memberColumnsByField, true); err != nil {
		return "", nil, err
	}
	return w.b.String(), w.args, nil
}

// TeamWhere translates a filter on teams (alias t).
func (d *Dialect) TeamWhere(f storage.Filter) (string, []any, error) {
	w := sqlWhere{d: d}
	if err := w.filter(f, teamColumnsByField, false); err != nil {
		return "", nil, err
	}
	return w.b.String(), w.args, nil
}

func (w *sqlWhere) filter(f storage.Filter, cols map[storage.Field]column, emailsAllowed bool) error {
	switch f := f.(type) {
	case nil:
		w.b.WriteString(w.d.True)
	case storage.And:
		return w.binary(f.Left, "AND", f.Right, cols, emailsAllowed)
	case storage.Or:
		return w.binary(f.Left, "OR", f.Right, cols, emailsAllowed)
	case storage.Not:
		w.b.WriteString("NOT (")
		if err := w.filter(f.Filter, cols, emailsAllowed); err != nil {
			return err
		}
		w.b.WriteString(")")
	case storage.AnyEmail:
		if !emailsAllowed {
			return fmt.Errorf("%w: emails inside emails or on teams", storage.ErrBadFilter)
		}
		// An element of the member's list matches, or the member has no
		// list and its implied email matches. Both halves select member
		// IDs through an index (member_emails by value, accounts by
		// email), so an email lookup never scans the org.
		w.b.WriteString("m.id IN (SELECT me.member_id FROM member_emails me WHERE me.org_id = ? AND ")
		w.args = append(w.args, w.orgID)
		if err := w.filter(f.Filter, emailColumns, false); err != nil {
			return err
		}
		w.b.WriteString(" UNION ALL SELECT m2.id FROM accounts a2 JOIN memberships m2 ON m2.account_id = a2.id" +
			" WHERE m2.org_id = ? AND NOT EXISTS (SELECT 1 FROM member_emails x WHERE x.member_id = m2.id) AND ")
		w.args = append(w.args, w.orgID)
		if err := w.filter(f.Filter, impliedEmailColumns, false); err != nil {
			return err
		}
		w.b.WriteString(")")
	case storage.Compare:
		c, ok := cols[f.Field]
		if !ok {
			return fmt.Errorf("%w: field %q here", storage.ErrBadFilter, f.Field)
		}
		return w.compare(c, f.Op, f.Value)
	default:
		return fmt.Errorf("%w: %T", storage.ErrBadFilter, f)
	}
	return nil
}

func (w *sqlWhere) binary(l storage.Filter, op string, r storage.Filter, cols map[storage.Field]column, emailsAllowed bool) error {
	w.b.WriteString("(")
	if err := w.filter(l, cols, emailsAllowed); err != nil {
		return err
	}
	w.b.WriteString(" " + op + " ")
	if err := w.filter(r, cols, emailsAllowed); err != nil {
		return err
	}
	w.b.WriteString(")")
	return nil
}

func (w *sqlWhere) compare(c column, op storage.Op, v any) error {
	bad := func() error {
		return fmt.Errorf("%w: %s %s %T", storage.ErrBadFilter, c.expr, op, v)
	}
	switch c.kind {
	case teamMember:
		switch op {
		case storage.OpPr:
			w.b.WriteString("EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id)")
			return nil
		case storage.OpEq, storage.OpNe:
			s, ok := v.(string)
			if !ok {
				return bad()
			}
			if op == storage.OpNe {
				w.b.WriteString("NOT ")
			}
			w.b.WriteString("EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id = ?)")
			w.args = append(w.args, s)
			return nil
		}
		return bad()
	case boolean:
		switch op {
		case storage.OpPr:
			w.b.WriteString(c.expr + " IS NOT NULL")
			return nil
		case storage.OpEq, storage.OpNe:
			b, ok := v.(bool)
			if !ok {
				return bad()
			}
			sqlOp := "="
			if op == storage.OpNe {
				sqlOp = "!="
			}
			w.b.WriteString(w.d.IfNull + "(" + c.expr + ", 0) " + sqlOp + " ?")
			w.args = append(w.args, boolInt(b))
			return nil
		}
		return bad()
	case unixTime:
		if op == storage.OpPr {
			w.b.WriteString(w.d.True)
			return nil
		}
		t, ok := v.(time.Time)
		sqlOp, ordered := orderedOps[op]
		if !ok || !ordered {
			return bad()
		}
		w.b.WriteString(c.expr + " " + sqlOp + " ?")
		w.args = append(w.args, t.Unix())
		return nil
	}

	// Text.
	if op == storage.OpPr {
		w.b.WriteString("(" + c.expr + " IS NOT NULL AND " + c.expr + " != '')")
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return bad()
	}
	expr, param := c.expr, "?"
	if c.kind == textNoCase {
		expr, param = w.d.NoCase(c.expr)
	}
	if sqlOp, ok := orderedOps[op]; ok {
		if op == storage.OpNe {
			// An absent value (NULL) is not equal to anything.
			w.b.WriteString(w.d.IfNull + "(" + expr + ", '') != " + param)
		} else {
			w.b.WriteString(expr + " " + sqlOp + " " + param)
		}
		w.args = append(w.args, s)
		return nil
	}
	if c.kind == textNoCase {
		var pattern string
		switch op {
		case storage.OpCo:
			pattern = "%" + likeEscape(s) + "%"
		case storage.OpSw:
			pattern = likeEscape(s) + "%"
		case storage.OpEw:
			pattern = "%" + likeEscape(s)
		default:
			return bad()
		}
		w.b.WriteString(w.d.Like(c.expr))
		w.args = append(w.args, pattern)
		return nil
	}
	// Case-exact substring tests; LIKE would ignore case.
	n := utf8.RuneCountInString(s)
	switch op {
	case storage.OpCo:
		w.b.WriteString(w.d.Contains(c.expr))
		w.args = append(w.args, s)
	case storage.OpSw:
		cond, args := w.d.StartsWith(c.expr, n, s)
		w.b.WriteString(cond)
		w.args = append(w.args, args...)
	case storage.OpEw:
		if n == 0 {
			w.b.WriteString(w.d.True)
			return nil
		}
		cond, args := w.d.EndsWith(c.expr, n, s)
		w.b.WriteString(cond)
		w.args = append(w.args, args...)
	default:
		return bad()
	}
	return nil
}

var orderedOps = map[storage.Op]string{
	storage.OpEq: "=",
	storage.OpNe: "!=",
	storage.OpGt: ">",
	storage.OpGe: ">=",
	storage.OpLt: "<",
	storage.OpLe: "<=",
}

// likeEscape quotes LIKE's wildcards with the escape character '\'.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
