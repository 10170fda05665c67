package scimserver

import (
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/storage"
)

// Team and member roles (issue 10): a team may grant its members admin or
// member; a member's effective role is the highest of their own and their
// teams' (owner only by direct assignment). The IdP provisions who is in
// which team; the org's admin decides here what each team grants.

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
// name, and the total.
func (s *Server) listTeams(rq *request) (response, error) {
	start, count, err := apiPage(rq)
	if err != nil {
		return response{}, err
	}
	ts, total, err := s.store.FindTeams(rq.ctx(), rq.org, storage.Query{StartIndex: start, Count: count})
	if err != nil {
		return response{}, fmt.Errorf("listing teams: %w", err)
	}
	out := make([]teamBody, len(ts))
	for i, t := range ts {
		out[i] = toTeamBody(t)
	}
	return response{status: http.StatusOK, body: map[string]any{"teams": out, "total": total}}, nil
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

// setTeamRole sets what a team grants: admin, member, or none (null).
func (s *Server) setTeamRole(rq *request, id string) (response, error) {
	raw, err := readRole(rq)
	if err != nil {
		return response{}, err
	}
	role, err := storage.ParseTeamRole(raw)
	if err != nil {
		return response{}, fieldError("role", "%v", err)
	}
	t, err := s.store.TeamByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, teamErr(err, id)
	}
	// An unchanged role writes nothing: a write bumps the team's SCIM
	// version and tells every gate to reload its members.
	if t.Role != role {
		if t, err = s.store.SetTeamRole(rq.ctx(), rq.org, id, role); err != nil {
			return response{}, teamErr(err, id)
		}
		s.log.Info("set team role", zap.Int64("org_id", rq.org), zap.String("team_id", id), zap.String("role", string(role)))
	}
	return response{status: http.StatusOK, body: toTeamBody(t)}, nil
}

func teamErr(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("no team %s in this organization; GET /api/v1/teams lists them", printable(id))
	}
	return fmt.Errorf("team %q: %w", id, err)
}

// teamsByMember maps each member ID of the org to its teams. It reads
// every team of the org: orgs have tens of teams, not thousands, and an
// effective role computed from some of them would be wrong.
func (s *Server) teamsByMember(rq *request) (map[string][]storage.Team, error) {
	ts, _, err := s.store.FindTeams(rq.ctx(), rq.org, storage.Query{Count: -1})
	if err != nil {
		return nil, fmt.Errorf("listing teams: %w", err)
	}
	out := map[string][]storage.Team{}
	for _, t := range ts {
		for _, id := range t.MemberIDs {
			out[id] = append(out[id], t)
		}
	}
	return out, nil
}

func toMemberBody(m storage.Member, teams []storage.Team) memberBody {
	b := memberBody{
		ID: m.ID, Email: m.Email, FirstName: m.GivenName, LastName: m.FamilyName,
		Role: m.Role, Active: m.Active, Teams: make([]string, len(teams)),
	}
	roles := make([]storage.Role, len(teams))
	for i, t := range teams {
		b.Teams[i], roles[i] = t.Name, t.Role
	}
	b.EffectiveRole = storage.EffectiveRole(m.Role, roles...)
	return b
}

// listMembers answers a page (start_index, count) of the org's members
// with their own and effective roles, and the total.
func (s *Server) listMembers(rq *request) (response, error) {
	start, count, err := apiPage(rq)
	if err != nil {
		return response{}, err
	}
	// FindMembers, not ListMembers: its Count 0 means the total alone,
	// as count=0 asks.
	ms, total, err := s.store.FindMembers(rq.ctx(), rq.org, storage.Query{StartIndex: start, Count: count})
	if err != nil {
		return response{}, fmt.Errorf("listing members: %w", err)
	}
	out := []memberBody{}
	if len(ms) > 0 {
		teams, err := s.teamsByMember(rq)
		if err != nil {
			return response{}, err
		}
		for _, m := range ms {
			out = append(out, toMemberBody(m, teams[m.ID]))
		}
	}
	return response{status: http.StatusOK, body: map[string]any{"members": out, "total": total}}, nil
}

// setMemberRole sets a member's own role; the org's last owner cannot be
// demoted.
func (s *Server) setMemberRole(rq *request, id string) (response, error) {
	raw, err := readRole(rq)
	if err != nil {
		return response{}, err
	}
	role, err := storage.ParseRole(raw)
	if err != nil {
		return response{}, fieldError("role", "must be owner, admin or member, not %q", printable(raw))
	}
	m, err := s.store.MemberByID(rq.ctx(), rq.org, id)
	if err != nil {
		return response{}, memberErr(err, id)
	}
	// As for teams, an unchanged role writes nothing (and bumps no ETag).
	if m.Role != role {
		changed, err := s.store.SetRole(rq.ctx(), rq.org, id, role)
		if errors.Is(err, storage.ErrLastOwner) {
			return response{}, errorf(http.StatusConflict, "",
				"%s is the organization's last owner; make another member owner first (PUT /api/v1/members/{id}/role), then change this one", m.Email)
		}
		if err != nil {
			return response{}, memberErr(err, id)
		}
		m = changed
		s.log.Info("set member role", zap.Int64("org_id", rq.org), zap.String("member_id", id), zap.String("role", string(role)))
	}
	teams, err := s.teamsByMember(rq)
	if err != nil {
		return response{}, err
	}
	return response{status: http.StatusOK, body: toMemberBody(m, teams[m.ID])}, nil
}

func memberErr(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("no member %s in this organization; GET /api/v1/members lists them", printable(id))
	}
	return fmt.Errorf("member %q: %w", id, err)
}
