package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/storage"
)

// A SCIM User is a member of the token's org. The account email is the
// userName; the names, display name, external ID and active state are
// columns of the store; every other attribute the schema knows (emails,
// phone numbers, the enterprise extension...) is kept in Member.Attrs as
// canonical JSON and given back as received.

func (s *Server) users(rq *request, rest []string) (response, error) {
	return resourceRoutes{
		list: s.listUsers, create: s.createUser,
		get: s.getUser, replace: s.replaceUser, patch: s.patchUser, remove: s.deleteUser,
	}.serve(rq, rest)
}

// resourceRoutes are the operations of one SCIM resource type (RFC 7644
// §3): on the collection, list and create; on one resource by id, get,
// replace, patch and delete.
type resourceRoutes struct {
	list, create                func(*request) (response, error)
	get, replace, patch, remove func(*request, string) (response, error)
}

// serve dispatches by path depth and method.
func (h resourceRoutes) serve(rq *request, rest []string) (response, error) {
	switch len(rest) {
	case 0:
		switch rq.Method {
		case http.MethodGet:
			return h.list(rq)
		case http.MethodPost:
			return h.create(rq)
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodPost)
	case 1:
		id := rest[0]
		if id == ".search" {
			return response{}, errorf(http.StatusNotImplemented, "", "POST .search is not supported; use GET with a filter")
		}
		switch rq.Method {
		case http.MethodGet:
			return h.get(rq, id)
		case http.MethodPut:
			return h.replace(rq, id)
		case http.MethodPatch:
			return h.patch(rq, id)
		case http.MethodDelete:
			return h.remove(rq, id)
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete)
	}
	return response{}, notFound("no such endpoint")
}

func (s *Server) listUsers(rq *request) (response, error) {
	start, count, err := page(rq)
	if err != nil {
		return response{}, err
	}
	f, err := queryFilter(rq, userFilter)
	if err != nil {
		return response{}, err
	}
	proj := parseProjection(rq.query, userResourceSchema, userExtensions)
	members, total, err := s.store.FindMembers(rq.ctx(), rq.org, storage.Query{Filter: f, StartIndex: start, Count: count})
	if err != nil {
		return response{}, fmt.Errorf("listing users: %w", err)
	}
	items := make([]any, len(members))
	for i, m := range members {
		items[i] = userResource(rq, m, proj)
	}
	return response{status: http.StatusOK, body: newList(total, start, items)}, nil
}

// queryFilter reads the filter parameter of a list request.
func queryFilter(rq *request, ft filterTranslator) (storage.Filter, error) {
	raw := strings.TrimSpace(rq.query.Get("filter"))
	if raw == "" {
		return nil, nil
	}
	expr, err := parseFilter(raw)
	if err != nil {
		return nil, err
	}
	return ft.translate(expr)
}

func (s *Server) createUser(rq *request) (response, error) {
	u, err := readUser(rq)
	if err != nil {
		return response{}, err
	}
	if err := s.requireClaimed(rq, "userName", u.email); err != nil {
		return response{}, err
	}
	if !strings.EqualFold(u.primaryEmail, u.email) {
		if err := s.requireClaimed(rq, "the primary email", u.primaryEmail); err != nil {
			return response{}, err
		}
	}
	active := true
	if u.active != nil {
		active = *u.active
	}
	m, err := s.store.CreateMember(rq.ctx(), rq.org, storage.NewMember{
		Email: u.email, GivenName: u.givenName, FamilyName: u.familyName, DisplayName: u.displayName,
		ExternalID: u.externalID, Role: storage.RoleMember, Active: active, Attrs: u.attrs, Source: storage.SourceSCIM,
	}, true)
	switch {
	case errors.Is(err, storage.ErrAccountExists):
		return response{}, errorf(http.StatusConflict, scimUniqueness,
			"%s already has an account outside this organization, so provisioning cannot create it: an admin of this organization must invite the user manually (ssogate user invite %s), after which the IdP links to the existing user",
			u.email, u.email)
	case errors.Is(err, storage.ErrConflict):
		return response{}, errorf(http.StatusConflict, scimUniqueness, "a user with userName %s already exists in this organization", u.email)
	case err != nil:
		return response{}, fmt.Errorf("creating user: %w", err)
	}
	s.log.Info("provisioned member", zap.Int64("org_id", rq.org), zap.String("member_id", m.ID), zap.Bool("active", m.Active))
	s.record(rq, "scim.user.create", m.Email, nil, map[string]any{"active": m.Active, "role": m.Role})
	return response{status: http.StatusCreated, body: userResource(rq, m, projection{}),
		location: userLocation(rq, m.ID), etag: etag(m.Version)}, nil
}

func (s *Server) getUser(rq *request, id string) (response, error) {
	m, err := s.store.MemberByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, userErr(err, id)
	}
	if etagMatches(rq.Header.Get("If-None-Match"), m.Version) {
		return response{status: http.StatusNotModified, etag: etag(m.Version)}, nil
	}
	proj := parseProjection(rq.query, userResourceSchema, userExtensions)
	return response{status: http.StatusOK, body: userResource(rq, m, proj), etag: etag(m.Version)}, nil
}

// replaceUser is PUT: the body replaces every writable attribute (Okta's
// profile push, and every update of an app built with Okta's wizard,
// deactivation included). id, meta and groups in the body are ignored:
// Okta echoes them.
func (s *Server) replaceUser(rq *request, id string) (response, error) {
	u, err := readUser(rq)
	if err != nil {
		return response{}, err
	}
	return s.modifyUser(rq, id, func(*storage.Member) (userFields, error) { return u, nil })
}

// patchUser applies PATCH operations, atomically: to a copy of the user,
// validated as a whole, stored in one write or not at all.
func (s *Server) patchUser(rq *request, id string) (response, error) {
	ops, err := readPatch(rq)
	if err != nil {
		return response{}, err
	}
	return s.modifyUser(rq, id, func(m *storage.Member) (userFields, error) {
		doc := memberDoc(*m)
		if err := applyUserPatch(doc, ops); err != nil {
			return userFields{}, err
		}
		canon, err := canonicalUser(doc)
		if err != nil {
			return userFields{}, err
		}
		return userFromDoc(canon, m)
	})
}

// modifyUser stores what next makes of the current member, in one
// transaction, and answers 200 with the user.
func (s *Server) modifyUser(rq *request, id string, next func(*storage.Member) (userFields, error)) (response, error) {
	var before storage.Member
	keepCase, caseOnly := false, false
	modify := func(m *storage.Member) error {
		before = *m
		if err := checkIfMatch(rq, m.Version); err != nil {
			return err
		}
		u, err := next(m)
		if err != nil {
			return err
		}
		caseOnly = u.email != m.Email && strings.EqualFold(u.email, m.Email)
		if keepCase && caseOnly {
			u.email = m.Email
		}
		return s.setUser(rq, m, u)
	}
	m, err := s.store.ModifyMember(rq.ctx(), rq.org, id, modify)
	if errors.Is(err, storage.ErrSharedAccount) && caseOnly {
		// The email is the account's, shared with another org, so this
		// org may not change it; but userName is case-insensitive (RFC
		// 7643), so an IdP that spells it in another case asks for no
		// change of it: keep the stored spelling and apply the rest.
		keepCase = true
		m, err = s.store.ModifyMember(rq.ctx(), rq.org, id, modify)
	}
	if err != nil {
		return response{}, userErr(err, id)
	}
	if before.Active != m.Active {
		// Okta may send a stale PUT with active:false right after a
		// reactivation; a line per change lets an admin see that race.
		s.log.Info("member active changed", zap.Int64("org_id", rq.org), zap.String("member_id", m.ID),
			zap.Bool("active", m.Active), zap.String("method", rq.Method))
	}
	// An unchanged profile was not written (before is the member as
	// stored): nothing to record.
	if b, a := userChange(before, m); len(b)+len(a) > 0 {
		s.record(rq, "scim.user.update", m.Email, b, a)
	}
	proj := parseProjection(rq.query, userResourceSchema, userExtensions)
	return response{status: http.StatusOK, body: userResource(rq, m, proj), etag: etag(m.Version)}, nil
}

// setUser writes u over m after the product rules: a new userName or
// primary email, or a reactivation, needs a claimed and verified domain
// (a removed claim stops provisioning, yet deactivation still works). An
// absent active keeps the current state.
func (s *Server) setUser(rq *request, m *storage.Member, u userFields) error {
	active := m.Active
	if u.active != nil {
		active = *u.active
	}
	reactivating := active && !m.Active
	if reactivating || !strings.EqualFold(u.email, m.Email) {
		if err := s.requireClaimed(rq, "userName", u.email); err != nil {
			return err
		}
	}
	if reactivating || !strings.EqualFold(u.primaryEmail, currentPrimaryEmail(*m)) {
		if err := s.requireClaimed(rq, "the primary email", u.primaryEmail); err != nil {
			return err
		}
	}
	m.Email, m.GivenName, m.FamilyName = u.email, u.givenName, u.familyName
	m.DisplayName, m.ExternalID, m.Active, m.Attrs = u.displayName, u.externalID, active, u.attrs
	return nil
}

// deleteUser removes the membership (and the account when it is in no
// other org); the member's sessions end with it.
func (s *Server) deleteUser(rq *request, id string) (response, error) {
	// Read first, for the activity log's email: deletes are rare.
	m, err := s.store.MemberByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, userErr(err, id)
	}
	if err := s.store.DeleteMember(rq.ctx(), rq.org, id); err != nil {
		return response{}, userErr(err, id)
	}
	s.log.Info("deprovisioned member", zap.Int64("org_id", rq.org), zap.String("member_id", id))
	s.record(rq, "scim.user.delete", m.Email, map[string]any{"active": m.Active, "role": m.Role}, nil)
	return response{status: http.StatusNoContent}, nil
}

// userErr names the user in a 404, explains the 409s, and adds context
// to other errors. It serves PUT and PATCH alike (both go through
// modifyUser), so neither can change a shared account's email.
func userErr(err error, id string) error {
	var se *Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, storage.ErrNotFound):
		return notFound("no user with id %q in this organization", id)
	case errors.Is(err, storage.ErrSharedAccount):
		// No scimType: RFC 7644 defines none for a 409 other than
		// uniqueness, which would tell the IdP the new userName is taken.
		// The detail never names the other org.
		return errorf(http.StatusConflict, "",
			"this person is also a member of another organization on this service, and their email is their sign-in there too, "+
				"so it cannot be changed from this organization; ask the operator of this service to change it. "+
				"Their names, externalId and active state can still be changed here")
	case errors.Is(err, storage.ErrConflict):
		return errorf(http.StatusConflict, scimUniqueness, "another account already has this userName")
	}
	return fmt.Errorf("user %q: %w", id, err)
}

// requireClaimed refuses an email whose domain the org has not claimed
// and verified: an IdP must not provision anyone outside its org's
// domains.
func (s *Server) requireClaimed(rq *request, what, email string) error {
	domain, err := emailDomain(email)
	if err != nil {
		return badRequest(scimInvalidValue, "%s %q is not an email address", what, email)
	}
	ok, err := s.store.DomainVerified(rq.ctx(), rq.org, domain)
	if err != nil {
		return fmt.Errorf("checking domain %s: %w", domain, err)
	}
	if !ok {
		return badRequest(scimInvalidValue,
			"%s %s is in the domain %s, which this organization has not claimed and verified; claim it first (POST /api/v1/domains or ssogate domain claim %s)",
			what, email, domain, domain)
	}
	return nil
}

// emailDomain checks that s is a plain email address and returns its
// domain in canonical form.
func emailDomain(s string) (string, error) {
	if len(s) > 254 {
		return "", errors.New("longer than 254 characters")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	if addr.Address != s || addr.Name != "" {
		return "", errors.New("not a bare address")
	}
	return domainclaim.Normalize(s[strings.LastIndexByte(s, '@')+1:])
}

// userFields is a User body reduced to what is stored.
type userFields struct {
	email, givenName, familyName, displayName, externalID string
	primaryEmail                                          string
	active                                                *bool // nil when absent
	attrs                                                 json.RawMessage
}

// readUser reads and validates a User body (POST, PUT).
func readUser(rq *request) (userFields, error) {
	body, err := readObject(rq)
	if err != nil {
		return userFields{}, err
	}
	doc, err := canonicalUser(body)
	if err != nil {
		return userFields{}, err
	}
	return userFromDoc(doc, nil)
}

// userFromDoc splits a canonical User document into columns and Attrs,
// checking what ssogate requires: userName an email, givenName and
// familyName, a primary email. For a PATCH, prev is the member before it:
// a name part prev never had (a member invited or signed in before the
// IdP provisioned it) is not required, so that a PATCH which does not add
// it, a deactivation say, still goes through.
func userFromDoc(doc map[string]any, prev *storage.Member) (userFields, error) {
	var u userFields
	u.email, _ = doc["userName"].(string)
	if u.email == "" {
		return u, badRequest(scimInvalidValue, "userName is required: the user's email address")
	}
	if _, err := emailDomain(u.email); err != nil {
		return u, badRequest(scimInvalidValue, "userName %q is not an email address: %v", u.email, err)
	}
	name, _ := doc["name"].(map[string]any)
	u.givenName, _ = name["givenName"].(string)
	u.familyName, _ = name["familyName"].(string)
	if u.givenName == "" && (prev == nil || prev.GivenName != "") {
		return u, badRequest(scimInvalidValue, "name.givenName is required")
	}
	if u.familyName == "" && (prev == nil || prev.FamilyName != "") {
		return u, badRequest(scimInvalidValue, "name.familyName is required")
	}
	u.displayName, _ = doc["displayName"].(string)
	u.externalID, _ = doc["externalId"].(string)
	if b, ok := doc["active"].(bool); ok {
		u.active = &b
	}
	emails, _ := doc["emails"].([]any)
	primary, err := primaryEmail(emails)
	if err != nil {
		return u, err
	}
	u.primaryEmail = primary

	attrs := make(map[string]any, len(doc))
	for k, v := range doc {
		switch k {
		case "userName", "displayName", "externalId", "active":
		case "name":
			rest := cloneMap(name)
			delete(rest, "givenName")
			delete(rest, "familyName")
			if len(rest) > 0 {
				attrs[k] = rest
			}
		default:
			attrs[k] = v
		}
	}
	// Marshal sorts keys: equal documents give equal bytes, which lets
	// the store skip writes that change nothing.
	raw, err := json.Marshal(attrs)
	if err != nil {
		return u, fmt.Errorf("encoding attributes: %w", err)
	}
	u.attrs = raw
	return u, nil
}

// primaryEmail picks the primary email: the one marked primary, else the
// work one, else the first.
func primaryEmail(emails []any) (string, error) {
	if len(emails) == 0 {
		return "", badRequest(scimInvalidValue, "emails is required: give the user's primary email")
	}
	var primary, work, first map[string]any
	for _, el := range emails {
		obj, _ := el.(map[string]any)
		if first == nil {
			first = obj
		}
		if isPrimary(obj) {
			if primary != nil {
				return "", badRequest(scimInvalidValue, "emails has more than one primary value")
			}
			primary = obj
		}
		if t, _ := obj["type"].(string); work == nil && strings.EqualFold(t, "work") {
			work = obj
		}
	}
	pick := first
	if primary != nil {
		pick = primary
	} else if work != nil {
		pick = work
	}
	v, _ := pick["value"].(string)
	if v == "" {
		return "", badRequest(scimInvalidValue, "the primary email has no value")
	}
	if _, err := emailDomain(v); err != nil {
		return "", badRequest(scimInvalidValue, "the primary email %q is not an email address", v)
	}
	return v, nil
}

// currentPrimaryEmail is the primary email of a stored member.
func currentPrimaryEmail(m storage.Member) string {
	emails, _ := memberDoc(m)["emails"].([]any)
	v, _ := primaryEmail(emails)
	return v
}

// memberDoc is the canonical User document of a member, without id, meta
// and schemas: the working copy PATCH operates on. A member made outside
// SCIM (an SSO sign-in, an invitation) has no emails list; its account
// email stands in, as the store's email filter assumes.
func memberDoc(m storage.Member) map[string]any {
	doc := map[string]any{}
	if len(m.Attrs) > 0 {
		dec := json.NewDecoder(bytes.NewReader(m.Attrs))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil || doc == nil {
			doc = map[string]any{}
		}
	}
	return overlayMember(doc, m)
}

// outputDoc is memberDoc for a response without a projection: the stored
// attributes stay raw JSON, decoded one level only (and name, which the
// member's columns merge into). Decoding every member's attributes into
// maps and encoding them back was 3 of the 5 ms of CPU of a page of 100.
func outputDoc(m storage.Member) map[string]any {
	doc := map[string]any{}
	var raw map[string]json.RawMessage
	if len(m.Attrs) > 0 && json.Unmarshal(m.Attrs, &raw) == nil {
		for k, v := range raw {
			doc[k] = v
		}
		if v, ok := raw["name"]; ok {
			var name any
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&name) == nil {
				doc["name"] = name
			}
		}
	}
	return overlayMember(doc, m)
}

// overlayMember sets on doc what the member's columns hold.
func overlayMember(doc map[string]any, m storage.Member) map[string]any {
	doc["userName"] = m.Email
	name, _ := doc["name"].(map[string]any)
	if name == nil {
		name = map[string]any{}
	}
	if m.GivenName != "" {
		name["givenName"] = m.GivenName
	}
	if m.FamilyName != "" {
		name["familyName"] = m.FamilyName
	}
	if len(name) > 0 {
		doc["name"] = name
	}
	if m.DisplayName != "" {
		doc["displayName"] = m.DisplayName
	}
	if m.ExternalID != "" {
		doc["externalId"] = m.ExternalID
	}
	doc["active"] = m.Active
	if _, ok := doc["emails"]; !ok {
		doc["emails"] = []any{map[string]any{"value": m.Email, "type": "work", "primary": true}}
	}
	return doc
}

// userResource is the User as the client sees it.
func userResource(rq *request, m storage.Member, proj projection) map[string]any {
	var doc map[string]any
	if proj.requested() {
		doc = memberDoc(m) // the projection works on decoded values
	} else {
		doc = outputDoc(m)
	}
	doc["id"] = m.ID
	schemas := []any{userSchema}
	for _, ext := range userExtensions {
		if _, ok := doc[ext.ID]; ok {
			schemas = append(schemas, ext.ID)
		}
	}
	doc["schemas"] = schemas
	doc["meta"] = meta("User", userLocation(rq, m.ID), m.CreatedAt, m.UpdatedAt, m.Version)
	proj.apply(doc)
	return doc
}

func userLocation(rq *request, id string) string { return rq.base + "/Users/" + id }
