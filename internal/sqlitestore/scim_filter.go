package sqlitestore

import (
	"slices"

	"github.com/ssogate/ssogate/internal/sqlfilter"
	"github.com/ssogate/ssogate/internal/storage"
)

// filterSQL writes SCIM filters in SQLite's words.
var filterSQL = &sqlfilter.Dialect{
	True:   "1",
	IfNull: "IFNULL",
	// The same collation as the NOCASE columns, so that an equality on
	// accounts.email or teams.name is an index probe.
	NoCase: func(expr string) (string, string) { return expr, "? COLLATE NOCASE" },
	// LIKE ignores ASCII case, as NOCASE does.
	Like:     func(expr string) string { return expr + ` LIKE ? ESCAPE '\'` },
	Contains: func(expr string) string { return "instr(" + expr + ", ?) > 0" },
	StartsWith: func(expr string, n int, s string) (string, []any) {
		return "substr(" + expr + ", 1, ?) = ?", []any{n, s}
	},
	EndsWith: func(expr string, n int, s string) (string, []any) {
		return "substr(" + expr + ", ?) = ?", []any{-n, s}
	},
}

func memberWhere(orgID int64, f storage.Filter) (string, []any, error) {
	return filterSQL.MemberWhere(orgID, f)
}

func teamWhere(f storage.Filter) (string, []any, error) { return filterSQL.TeamWhere(f) }

// selective reports whether a member filter, whatever else it says, pins
// the result to a few members through an index: an equality on the ID,
// the email, the external ID, or one of the emails.
func selective(f storage.Filter) bool {
	return pins(f, storage.FieldID, storage.FieldEmail, storage.FieldExternalID)
}

// pins reports whether f holds an equality on one of fields in every
// branch of its ORs; inside emails, that is one on the email's value.
// (memberWhere has refused emails inside emails before this runs.)
func pins(f storage.Filter, fields ...storage.Field) bool {
	switch f := f.(type) {
	case storage.Compare:
		return f.Op == storage.OpEq && slices.Contains(fields, f.Field)
	case storage.AnyEmail:
		return pins(f.Filter, storage.FieldEmailValue)
	case storage.And:
		return pins(f.Left, fields...) || pins(f.Right, fields...)
	case storage.Or:
		return pins(f.Left, fields...) && pins(f.Right, fields...)
	}
	return false
}
