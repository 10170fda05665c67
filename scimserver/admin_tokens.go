package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// The token API: an org's admin makes the SCIM token to give its IdP (and
// further admin tokens), sees which are in use, and revokes them. A
// token's secret is shown once, when it is made; only its hash is kept.
// The operations are internal/orgadmin's.

// tokenBody is a token as the API shows it: never its secret, except in
// the answer that made it.
type tokenBody struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Scope      storage.Scope `json:"scope"`
	CreatedAt  time.Time     `json:"created_at"`
	LastUsedAt *time.Time    `json:"last_used_at"` // null when never used
	Token      string        `json:"token,omitempty"`
}

func toTokenBody(t storage.Token) tokenBody {
	return tokenBody{ID: t.ID, Name: t.Name, Scope: t.Scope, CreatedAt: t.CreatedAt.UTC(), LastUsedAt: optTime(t.LastUsedAt)}
}

// routeTokens dispatches a request under /api/v1/tokens.
func (s *Server) routeTokens(rq *request, segs []string) (response, error) {
	switch len(segs) {
	case 0:
		switch rq.Method {
		case http.MethodGet:
			return s.listTokens(rq)
		case http.MethodPost:
			return s.createToken(rq)
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodPost)
	case 1:
		if rq.Method != http.MethodDelete {
			return response{}, methodNotAllowed(rq, http.MethodDelete)
		}
		return s.revokeToken(rq, segs[0])
	}
	return response{}, notFound("no such endpoint")
}

func (s *Server) listTokens(rq *request) (response, error) {
	ts, err := s.admin.Tokens(rq.ctx(), rq.tenant)
	if err != nil {
		return response{}, fmt.Errorf("listing tokens: %w", err)
	}
	out := make([]tokenBody, len(ts))
	for i, t := range ts {
		out[i] = toTokenBody(t)
	}
	return response{status: http.StatusOK, body: map[string]any{"tokens": out}}, nil
}

// createToken makes a token of the org: scope scim unless the body says
// admin.
func (s *Server) createToken(rq *request) (response, error) {
	b, err := readAPIBody(rq, []string{"name", "scope"}, nil)
	if err != nil {
		return response{}, err
	}
	name, err := b.str("name")
	if err != nil {
		return response{}, err
	}
	if name == nil {
		name = new(string)
	}
	scope := storage.ScopeSCIM
	if v, err := b.str("scope"); err != nil {
		return response{}, err
	} else if v != nil && *v != "" {
		scope = storage.Scope(*v)
	}
	t, secret, err := s.admin.CreateToken(rq.ctx(), rq.tenant, rq.actor, *name, scope)
	if err != nil {
		return response{}, tenantErr(err, "making a token")
	}
	body := toTokenBody(t)
	body.Token = secret
	return response{status: http.StatusCreated, body: body, location: rq.base + "/tokens/" + t.ID}, nil
}

// revokeToken deletes one of the org's tokens; another org's token ID is
// 404. This process forgets the token at once, and every other within
// tokenTTL.
func (s *Server) revokeToken(rq *request, id string) (response, error) {
	_, err := s.admin.RevokeToken(rq.ctx(), rq.tenant, rq.actor, id)
	if errors.Is(err, storage.ErrNotFound) {
		return response{}, notFound("no token %s in this organization; GET /api/v1/tokens lists them", printable(id))
	}
	if err != nil {
		return response{}, fmt.Errorf("revoking token: %w", err)
	}
	s.tokens.forget(id)
	s.uses.forget(id)
	return response{status: http.StatusNoContent}, nil
}
