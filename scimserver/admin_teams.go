package scimserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// Team and member roles (issue 10): a team may grant its members admin or
// member; a member's effective role is the highest of their own and their
// teams' (owner only by direct assignment). The IdP provisions who is in
// which team; the org's admin decides here what each team grants. The
// operations are internal/orgadmin's.

// teamBody is a team as the admin API shows it.
type teamBody struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Role    *storage.Role `json:"role"` // null when the team grants nothing
	Members int           `json:"members"`
}

func toTeamBody(t storage.Team) teamBody {
	b := teamBody{ID: t.ID, Name: t.Name, Members: len(t.MemberIDs)}
	if t.Role != "" {
		r := t.Role
		b.Role = &r
	}
	return b
}

// memberBody is a member as the admin API shows it.
type memberBody struct {
	ID            string       `json:"id"`
	Email         string       `json:"email"`
	FirstName     string       `json:"first_name"`
	LastName      string       `json:"last_name"`
	Role          storage.Role `json:"role"`
	EffectiveRole storage.Role `json:"effective_role"`
	Active        bool         `json:"active"`
	Teams         []string     `json:"teams"`
}

// routeTeams dispatches a request under /api/v1/teams.
func (s *Server) routeTeams(rq *request, segs []string) (response, error) {
	switch {
	case len(segs) == 0:
		if rq.Method != http.MethodGet {
			return response{}, methodNotAllowed(rq, http.MethodGet)
		}
		return s.listTeams(rq)
	case len(segs) == 2 && segs[1] == "role":
		if rq.Method != http.MethodPut {
			return response{}, methodNotAllowed(rq, http.MethodPut)
		}
		return s.setTeamRole(rq, segs[0])
	}
	return response{}, notFound("no such endpoint: /api/v1/teams has /{id}/role")
}

// routeMembers dispatches a request under /api/v1/members.
func (s *Server) routeMembers(rq *request, segs []string) (response, error) {
	switch {
	case len(segs) == 0:
		if rq.Method != http.MethodGet {
			return response{}, methodNotAllowed(rq, http.MethodGet)
		}
		return s.listMembers(rq)
	case len(segs) == 2 && segs[1] == "role":
		if rq.Method != http.MethodPut {
			return response{}, methodNotAllowed(rq, http.MethodPut)
		}
		return s.setMemberRole(rq, segs[0])
	}
	return response{}, notFound("no such endpoint: /api/v1/members has /{id}/role")
}

// listTeams answers a page (start_index, count) of the org's teams by
// name, and the total. An org has tens of teams, so the page is cut from
// the whole list.
func (s *Server) listTeams(rq *request) (response, error) {
	start, count, err := apiPage(rq)
	if err != nil {
		return response{}, err
	}
	ts, err := s.admin.Teams(rq.ctx(), rq.tenant)
	if err != nil {
		return response{}, err
	}
	from := min(start-1, len(ts))
	to := min(from+count, len(ts))
	out := make([]teamBody, 0, to-from)
	for _, t := range ts[from:to] {
		out = append(out, toTeamBody(t))
	}
	return response{status: http.StatusOK, body: map[string]any{"teams": out, "total": len(ts)}}, nil
}

// readRole reads the body {"role": ...} of a role change; null is "".
func readRole(rq *request) (string, error) {
	b, err := readAPIBody(rq, []string{"role"}, nil)
	if err != nil {
		return "", err
	}
	v, err := b.str("role")
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", fieldError("role", "is required")
	}
	return *v, nil
}

// setTeamRole sets what a team grants: admin, member, or none (null). An
// unchanged role writes nothing: a write bumps the team's SCIM version
// and tells every gate to reload its members.
func (s *Server) setTeamRole(rq *request, id string) (response, error) {
	raw, err := readRole(rq)
	if err != nil {
		return response{}, err
	}
	role, err := storage.ParseTeamRole(raw)
	if err != nil {
		return response{}, fieldError("role", "%v", err)
	}
	t, err := s.admin.SetTeamRole(rq.ctx(), rq.tenant, rq.actor, id, role)
	if errors.Is(err, storage.ErrNotFound) {
		return response{}, notFound("no team %s in this organization; GET /api/v1/teams lists them", printable(id))
	}
	if err != nil {
		return response{}, tenantErr(err, fmt.Sprintf("team %q", id))
	}
	return response{status: http.StatusOK, body: toTeamBody(t)}, nil
}

func toMemberBody(v orgadmin.MemberView) memberBody {
	return memberBody{
		ID: v.ID, Email: v.Email, FirstName: v.GivenName, LastName: v.FamilyName,
		Role: v.Role, EffectiveRole: v.EffectiveRole, Active: v.Active, Teams: v.Teams,
	}
}

// listMembers answers a page (start_index, count) of the org's members
// with their own and effective roles, and the total; count=0 asks for
// the total alone.
func (s *Server) listMembers(rq *request) (response, error) {
	start, count, err := apiPage(rq)
	if err != nil {
		return response{}, err
	}
	ms, total, err := s.admin.Members(rq.ctx(), rq.tenant, storage.Page{StartIndex: start, Count: count})
	if err != nil {
		return response{}, err
	}
	out := make([]memberBody, len(ms))
	for i, m := range ms {
		out[i] = toMemberBody(m)
	}
	return response{status: http.StatusOK, body: map[string]any{"members": out, "total": total}}, nil
}

// setMemberRole sets a member's own role; the org's last owner cannot be
// demoted. An unchanged role writes nothing (and bumps no ETag).
func (s *Server) setMemberRole(rq *request, id string) (response, error) {
	raw, err := readRole(rq)
	if err != nil {
		return response{}, err
	}
	role, err := storage.ParseRole(raw)
	if err != nil {
		return response{}, fieldError("role", "must be owner, admin or member, not %q", printable(raw))
	}
	m, err := s.admin.SetMemberRole(rq.ctx(), rq.tenant, rq.actor, id, role)
	if errors.Is(err, storage.ErrNotFound) {
		return response{}, notFound("no member %s in this organization; GET /api/v1/members lists them", printable(id))
	}
	if err != nil {
		return response{}, tenantErr(err, fmt.Sprintf("member %q", id))
	}
	return response{status: http.StatusOK, body: toMemberBody(m)}, nil
}
