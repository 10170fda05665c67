package pgstore

import (
	"github.com/ssogate/ssogate/internal/sqlfilter"
)

// filterSQL writes SCIM filters in PostgreSQL's words.
var filterSQL = &sqlfilter.Dialect{
	True:   "TRUE",
	IfNull: "COALESCE",
	// Compared as citext, the type of the case-blind columns, so that an
	// equality on accounts.email or teams.name is an index probe (the cast
	// of a citext column is no cast).
	NoCase: func(expr string) (string, string) { return expr + "::citext", "?::citext" },
	// ILIKE ignores case, as the case-blind columns do.
	Like:     func(expr string) string { return expr + `::text ILIKE ? ESCAPE '\'` },
	Contains: func(expr string) string { return "strpos(" + expr + ", ?) > 0" },
	StartsWith: func(expr string, n int, s string) (string, []any) {
		return "left(" + expr + ", ?) = ?", []any{n, s}
	},
	EndsWith: func(expr string, n int, s string) (string, []any) {
		return "right(" + expr + ", ?) = ?", []any{n, s}
	},
}
