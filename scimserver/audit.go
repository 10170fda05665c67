package scimserver

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/ssogate/ssogate/internal/storage"
)

// What SCIM changes goes into the org's activity log, as the admin API's
// changes do: one event per change, recorded after the store took it,
// with the SCIM token as the actor. Reads are not recorded, and neither
// is a PUT or PATCH that changes nothing (IdPs push whole profiles that
// mostly carry no change). An event shows the fields that changed, never
// a user's attributes wholesale; a password an IdP sends is dropped on
// the way in (ignoredUserAttrs) and so never reaches one.

// record appends an event to the org's activity log.
func (s *Server) record(rq *request, action, target string, before, after map[string]any) {
	var b, a any
	if len(before) > 0 {
		b = before
	}
	if len(after) > 0 {
		a = after
	}
	s.admin.Record(rq.ctx(), rq.tenant, rq.actor, action, target, b, a)
}

// userChange returns the fields of a user that differ between a and b,
// before and after: userName, the name parts, displayName, externalId and
// active by value, and the other attributes by name only.
func userChange(a, b storage.Member) (before, after map[string]any) {
	before, after = map[string]any{}, map[string]any{}
	set := func(field string, x, y any) {
		if x != y {
			before[field], after[field] = x, y
		}
	}
	set("userName", a.Email, b.Email)
	set("name.givenName", a.GivenName, b.GivenName)
	set("name.familyName", a.FamilyName, b.FamilyName)
	set("displayName", a.DisplayName, b.DisplayName)
	set("externalId", a.ExternalID, b.ExternalID)
	set("active", a.Active, b.Active)
	if names := changedAttrs(a.Attrs, b.Attrs); len(names) > 0 {
		after["attributes"] = names
	}
	return before, after
}

// changedAttrs names the top-level attributes whose values differ
// between two stored attribute documents.
func changedAttrs(a, b json.RawMessage) []string {
	if bytes.Equal(a, b) {
		return nil
	}
	var x, y map[string]json.RawMessage
	_ = json.Unmarshal(a, &x) // stored canonical JSON; unreadable is empty
	_ = json.Unmarshal(b, &y)
	var names []string
	for k, v := range x {
		if w, ok := y[k]; !ok || !bytes.Equal(v, w) {
			names = append(names, k)
		}
	}
	for k := range y {
		if _, ok := x[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// maxNamedMembers is how many members a group event names by email; a
// change of more (an IdP's first push of a large group) is shown by the
// group's size alone, so that recording it costs a few reads at most.
const maxNamedMembers = 10

// groupChange returns the fields of a group that differ between a and b,
// before and after: displayName, externalId, and its size with the
// members added and removed, by email when few.
func (s *Server) groupChange(rq *request, a, b storage.Team) (before, after map[string]any) {
	before, after = map[string]any{}, map[string]any{}
	if a.Name != b.Name {
		before["displayName"], after["displayName"] = a.Name, b.Name
	}
	if a.ExternalID != b.ExternalID {
		before["externalId"], after["externalId"] = a.ExternalID, b.ExternalID
	}
	added, removed := diffIDs(a.MemberIDs, b.MemberIDs)
	if len(added)+len(removed) > 0 {
		before["members"], after["members"] = len(a.MemberIDs), len(b.MemberIDs)
		if len(added)+len(removed) <= maxNamedMembers {
			if len(added) > 0 {
				after["added"] = s.memberEmails(rq, added)
			}
			if len(removed) > 0 {
				after["removed"] = s.memberEmails(rq, removed)
			}
		}
	}
	return before, after
}

// groupCreated is what a new group's event shows.
func (s *Server) groupCreated(rq *request, t storage.Team) map[string]any {
	after := map[string]any{"displayName": t.Name, "members": len(t.MemberIDs)}
	if t.ExternalID != "" {
		after["externalId"] = t.ExternalID
	}
	if n := len(t.MemberIDs); n > 0 && n <= maxNamedMembers {
		after["added"] = s.memberEmails(rq, t.MemberIDs)
	}
	return after
}

// diffIDs returns the IDs in b and not in a, and those in a and not in b.
func diffIDs(a, b []string) (added, removed []string) {
	inA, inB := idSet(a), idSet(b)
	for _, id := range b {
		if !inA[id] {
			added = append(added, id)
		}
	}
	for _, id := range a {
		if !inB[id] {
			removed = append(removed, id)
		}
	}
	return added, removed
}

// memberEmails returns the emails of the org's members with these IDs,
// sorted; a member gone meanwhile (deleted with its memberships) shows by
// ID.
func (s *Server) memberEmails(rq *request, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if m, err := s.store.MemberByID(rq.ctx(), rq.org, id); err == nil {
			out[i] = m.Email
		}
	}
	slices.Sort(out)
	return out
}
