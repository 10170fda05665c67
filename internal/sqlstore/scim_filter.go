package sqlstore

import (
	"slices"

	"github.com/ssogate/ssogate/internal/storage"
)

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
