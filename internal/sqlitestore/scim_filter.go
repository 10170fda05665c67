package sqlitestore

import (
	"github.com/ssogate/ssogate/internal/sqlfilter"
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
