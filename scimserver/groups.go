package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/storage"
)

// A SCIM Group is a team of the token's org, found by name regardless of
// case, so that an IdP pushing "Engineering" links to the team an admin
// made before. Members are the org's users; groups do not nest.

// maxGroupName bounds a team name, in characters.
const maxGroupName = 256

func (s *Server) groups(rq *request, rest []string) (response, error) {
	return resourceRoutes{
		list: s.listGroups, create: s.createGroup,
		get: s.getGroup, replace: s.replaceGroup, patch: s.patchGroup, remove: s.deleteGroup,
	}.serve(rq, rest)
}

func (s *Server) listGroups(rq *request) (response, error) {
	start, count, err := page(rq)
	if err != nil {
		return response{}, err
	}
	f, err := queryFilter(rq, groupFilter)
	if err != nil {
		return response{}, err
	}
	proj := parseProjection(rq.query, groupResourceSchema, nil)
	teams, total, err := s.store.FindTeams(rq.ctx(), rq.org, storage.Query{
		Filter: f, StartIndex: start, Count: count, OmitMembers: proj.omits("members"),
	})
	if err != nil {
		return response{}, fmt.Errorf("listing groups: %w", err)
	}
	items := make([]any, len(teams))
	for i, t := range teams {
		items[i] = groupResource(rq, t, proj)
	}
	return response{status: http.StatusOK, body: newList(total, start, items)}, nil
}

func (s *Server) getGroup(rq *request, id string) (response, error) {
	t, err := s.store.TeamByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, groupErr(err, id, "")
	}
	if etagMatches(rq.Header.Get("If-None-Match"), t.Version) {
		return response{status: http.StatusNotModified, etag: etag(t.Version)}, nil
	}
	proj := parseProjection(rq.query, groupResourceSchema, nil)
	return response{status: http.StatusOK, body: groupResource(rq, t, proj), etag: etag(t.Version)}, nil
}

func (s *Server) createGroup(rq *request) (response, error) {
	g, err := readGroup(rq)
	if err != nil {
		return response{}, err
	}
	t, err := s.store.CreateTeamWithMembers(rq.ctx(), rq.org, g.name, g.externalID, g.members)
	if errors.Is(err, storage.ErrNotFound) {
		return response{}, s.unknownMember(rq, g.members)
	}
	if err != nil {
		return response{}, groupErr(err, "", g.name)
	}
	s.log.Info("provisioned team", zap.Int64("org_id", rq.org), zap.String("team_id", t.ID), zap.Int("members", len(t.MemberIDs)))
	s.record(rq, "scim.group.create", t.Name, nil, s.groupCreated(rq, t))
	return response{status: http.StatusCreated, body: groupResource(rq, t, projection{}),
		location: rq.base + "/Groups/" + t.ID, etag: etag(t.Version)}, nil
}

// replaceGroup is PUT: name, externalId and the whole member list (the
// Okta wizard's app pushes groups so).
func (s *Server) replaceGroup(rq *request, id string) (response, error) {
	g, err := readGroup(rq)
	if err != nil {
		return response{}, err
	}
	t, err := s.updateGroup(rq, id, func(t *storage.Team) error {
		t.Name, t.ExternalID, t.MemberIDs = g.name, g.externalID, g.members
		return nil
	})
	if err != nil {
		return response{}, err
	}
	proj := parseProjection(rq.query, groupResourceSchema, nil)
	return response{status: http.StatusOK, body: groupResource(rq, t, proj), etag: etag(t.Version)}, nil
}

// patchGroup applies PATCH operations through Store.UpdateTeam, which
// serializes updates of one team: Okta sends membership changes of a
// group concurrently, and none may be lost. The answer is 204, which Entra
// prefers, unless the client asked for attributes.
func (s *Server) patchGroup(rq *request, id string) (response, error) {
	ops, err := readPatch(rq)
	if err != nil {
		return response{}, err
	}
	t, err := s.updateGroup(rq, id, func(t *storage.Team) error { return applyGroupPatch(t, ops) })
	if err != nil {
		return response{}, err
	}
	proj := parseProjection(rq.query, groupResourceSchema, nil)
	if !proj.requested() {
		return response{status: http.StatusNoContent, etag: etag(t.Version)}, nil
	}
	return response{status: http.StatusOK, body: groupResource(rq, t, proj), etag: etag(t.Version)}, nil
}

// updateGroup runs change on the team inside Store.UpdateTeam and maps
// its errors: an unknown member id is 400 naming it, a taken name 409.
func (s *Server) updateGroup(rq *request, id string, change func(*storage.Team) error) (storage.Team, error) {
	var found bool
	var added []string
	var name string
	var prev storage.Team
	t, err := s.store.UpdateTeam(rq.ctx(), rq.org, id, func(t *storage.Team) error {
		found = true
		prev = *t
		prev.MemberIDs = slices.Clone(t.MemberIDs)
		if err := checkIfMatch(rq, t.Version); err != nil {
			return err
		}
		before := idSet(t.MemberIDs)
		if err := change(t); err != nil {
			return err
		}
		name = t.Name
		added = added[:0]
		for _, m := range t.MemberIDs {
			if !before[m] {
				added = append(added, m)
			}
		}
		return nil
	})
	var se *Error
	switch {
	case errors.As(err, &se):
		return t, se
	case found && errors.Is(err, storage.ErrNotFound):
		return t, s.unknownMember(rq, added)
	case err != nil:
		return t, groupErr(err, id, name)
	}
	if b, a := s.groupChange(rq, prev, t); len(b)+len(a) > 0 {
		s.record(rq, "scim.group.update", t.Name, b, a)
	}
	return t, nil
}

func (s *Server) deleteGroup(rq *request, id string) (response, error) {
	// Read first, for the activity log's name: deletes are rare.
	t, err := s.store.TeamByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, groupErr(err, id, "")
	}
	if err := s.store.DeleteTeam(rq.ctx(), rq.org, id); err != nil {
		return response{}, groupErr(err, id, "")
	}
	s.log.Info("deleted team", zap.Int64("org_id", rq.org), zap.String("team_id", id))
	s.record(rq, "scim.group.delete", t.Name, map[string]any{"displayName": t.Name, "members": len(t.MemberIDs)}, nil)
	return response{status: http.StatusNoContent}, nil
}

func groupErr(err error, id, name string) error {
	var se *Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, storage.ErrNotFound):
		return notFound("no group with id %q in this organization", id)
	case errors.Is(err, storage.ErrConflict):
		return errorf(http.StatusConflict, scimUniqueness,
			"a group with this displayName already exists in this organization (names ignore case); find it with filter displayName eq %q", name)
	}
	return fmt.Errorf("group %q: %w", id, err)
}

// unknownMember names the first of ids that is not a user of the org:
// the cause of an ErrNotFound from a membership write. Reads happen only
// on this error path.
func (s *Server) unknownMember(rq *request, ids []string) error {
	for _, id := range ids {
		if _, err := s.store.MemberByID(rq.ctx(), rq.org, id); errors.Is(err, storage.ErrNotFound) {
			return badRequest(scimInvalidValue, "member %q is not a user of this organization", id)
		}
	}
	return badRequest(scimInvalidValue, "a member is not a user of this organization")
}

// groupFields is a Group body reduced to what is stored.
type groupFields struct {
	name, externalID string
	members          []string
}

// readGroup reads a Group body (POST, PUT).
func readGroup(rq *request) (groupFields, error) {
	body, err := readObject(rq)
	if err != nil {
		return groupFields{}, err
	}
	var g groupFields
	var seen []string
	for k, v := range body {
		var err error
		switch {
		case strings.EqualFold(k, "displayName"):
			g.name, err = groupName(v)
		case strings.EqualFold(k, "externalId"):
			g.externalID, err = optionalString(v, "externalId")
		case strings.EqualFold(k, "members"):
			g.members, err = memberIDs(v)
		default:
			continue
		}
		if err != nil {
			return g, err
		}
		if containsFold(seen, k) {
			return g, badRequest(scimInvalidSyntax, "attribute %s is given twice (attribute names ignore case)", k)
		}
		seen = append(seen, k)
	}
	if g.name == "" {
		return g, badRequest(scimInvalidValue, "displayName is required")
	}
	if g.members == nil {
		g.members = []string{}
	}
	return g, nil
}

func groupName(v any) (string, error) {
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return "", badRequest(scimInvalidValue, "displayName must be a non-empty string")
	}
	if utf8.RuneCountInString(s) > maxGroupName {
		return "", badRequest(scimInvalidValue, "displayName is longer than %d characters", maxGroupName)
	}
	return s, nil
}

func optionalString(v any, name string) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	}
	return "", badRequest(scimInvalidValue, "%s must be a string", name)
}

// membersAttr describes members, for canonical names and filters.
var membersAttr = groupResourceSchema.attr("members")

// memberIDs reads a list of members ({"value": id, ...}, or a bare id),
// in order, without duplicates.
func memberIDs(v any) ([]string, error) {
	cv, ok, err := canonicalValue(membersAttr, v, "members")
	if err != nil || !ok {
		return []string{}, err
	}
	list := cv.([]any)
	ids := make([]string, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, el := range list {
		obj := el.(map[string]any)
		if t, _ := obj["type"].(string); t != "" && !strings.EqualFold(t, "User") {
			return nil, badRequest(scimInvalidValue, "members[%d] has type %q: groups hold users only, they do not nest", i, t)
		}
		id, _ := obj["value"].(string)
		if id == "" {
			return nil, badRequest(scimInvalidValue, "members[%d] needs a value: the id of a User", i)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// applyGroupPatch applies PATCH operations to a team: members add, remove
// (all, the listed ones as Entra sends, or by a filter as Okta sends) and
// replace; displayName and externalId. A path-less value may carry the
// group's id (Okta's rename): read-only keys are ignored.
func applyGroupPatch(t *storage.Team, ops []patchOp) error {
	members := slices.Clone(t.MemberIDs)
	for _, op := range ops {
		if op.Path == nil {
			obj, ok := op.Value.(map[string]any)
			if !ok {
				return badRequest(scimInvalidValue, "%s without a path needs an object value", op.Op)
			}
			for k, v := range obj {
				var err error
				switch strings.ToLower(k) {
				case "displayname":
					t.Name, err = groupName(v)
				case "externalid":
					t.ExternalID, err = optionalString(v, "externalId")
				case "members":
					var ids []string
					if ids, err = memberIDs(v); err == nil {
						if op.Op == "replace" {
							members = ids
						} else {
							members = addIDs(members, ids)
						}
					}
				}
				if err != nil {
					return err
				}
			}
			continue
		}
		if op.Path.Schema != "" {
			return badRequest(scimInvalidPath, "the path %q names no attribute of a group", op.Path.Raw)
		}
		p := op.Path.Path
		if uri := p.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, groupSchema) {
			return badRequest(scimInvalidPath, "the path %q names no attribute of a group", op.Path.Raw)
		}
		name := strings.ToLower(p.AttributePath.AttributeName)
		hasSub := p.AttributePath.SubAttribute != nil || p.SubAttribute != nil
		var err error
		switch {
		case name == "members" && hasSub:
			return badRequest(scimInvalidPath, "the path %q: members are added or removed whole", op.Path.Raw)
		case name == "members" && p.ValueExpression != nil:
			if op.Op != "remove" {
				return badRequest(scimInvalidPath, "the path %q: with a filter, members can only be removed", op.Path.Raw)
			}
			members, err = removeMatching(members, p.ValueExpression)
		case name == "members":
			var ids []string
			if op.Op != "remove" || op.HasValue && op.Value != nil {
				if ids, err = memberIDs(op.Value); err != nil {
					return err
				}
			}
			switch {
			case op.Op == "add":
				members = addIDs(members, ids)
			case op.Op == "replace":
				members = ids
			case op.HasValue && op.Value != nil:
				// Entra removes the listed members only.
				drop := idSet(ids)
				members = slices.DeleteFunc(members, func(m string) bool { return drop[m] })
			default:
				members = []string{}
			}
		case hasSub || p.ValueExpression != nil:
			return badRequest(scimInvalidPath, "the path %q names no attribute of a group", op.Path.Raw)
		case name == "displayname":
			if op.Op == "remove" {
				return badRequest(scimInvalidValue, "displayName is required and cannot be removed")
			}
			t.Name, err = groupName(op.Value)
		case name == "externalid":
			t.ExternalID = ""
			if op.Op != "remove" {
				t.ExternalID, err = optionalString(op.Value, "externalId")
			}
		case containsFold(readOnlyAttrs, name):
			return badRequest(scimMutability, "%s is read-only", p.AttributePath.AttributeName)
		default:
			return badRequest(scimInvalidPath, "the path %q names no attribute of a group", op.Path.Raw)
		}
		if err != nil {
			return err
		}
	}
	t.MemberIDs = members
	return nil
}

func addIDs(members, ids []string) []string {
	have := idSet(members)
	for _, id := range ids {
		if !have[id] {
			have[id] = true
			members = append(members, id)
		}
	}
	return members
}

func idSet(ids []string) map[string]bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// removeMatching removes the members a valuePath filter selects; the
// usual members[value eq "id"] is a direct lookup, not an evaluation per
// member.
func removeMatching(members []string, e filter.Expression) ([]string, error) {
	if ae, ok := e.(*filter.AttributeExpression); ok && strings.EqualFold(string(ae.Operator), "eq") &&
		ae.AttributePath.URIPrefix == nil && ae.AttributePath.SubAttribute == nil &&
		strings.EqualFold(ae.AttributePath.AttributeName, "value") {
		if id, ok := ae.CompareValue.(string); ok {
			id = unescapeFilterString(id)
			return slices.DeleteFunc(members, func(m string) bool { return m == id }), nil
		}
	}
	var err error
	out := slices.DeleteFunc(members, func(m string) bool {
		if err != nil {
			return false
		}
		var match bool
		match, err = matchElement(e, map[string]any{"value": m, "type": "User"}, membersAttr)
		return match
	})
	return out, err
}

// groupResource is the Group as the client sees it.
func groupResource(rq *request, t storage.Team, proj projection) map[string]any {
	doc := map[string]any{
		"schemas":     []any{groupSchema},
		"id":          t.ID,
		"displayName": t.Name,
		"meta":        meta("Group", rq.base+"/Groups/"+t.ID, t.CreatedAt, t.UpdatedAt, t.Version),
	}
	if t.ExternalID != "" {
		doc["externalId"] = t.ExternalID
	}
	if t.MemberIDs != nil && !proj.omits("members") {
		members := make([]any, len(t.MemberIDs))
		for i, id := range t.MemberIDs {
			members[i] = map[string]any{"value": id, "$ref": userLocation(rq, id), "type": "User"}
		}
		doc["members"] = members
	}
	proj.apply(doc)
	return doc
}
