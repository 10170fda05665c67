package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// The domain-claim API (SPEC section 6): an org admin claims an email
// domain, publishes the TXT challenge, and asks for verification. A
// verified domain lets the org's IdP sign in and provision its people; a
// pending claim counts for nothing and blocks no one. The operations are
// internal/orgadmin's.

// domainBody is a domain as the API shows it.
type domainBody struct {
	Domain     string     `json:"domain"`
	Status     string     `json:"status"`
	TXTName    string     `json:"txt_name"`
	TXTValue   string     `json:"txt_value"`
	CreatedAt  time.Time  `json:"created_at"`
	VerifiedAt *time.Time `json:"verified_at"`
}

func toDomainBody(d storage.Domain) domainBody {
	b := domainBody{
		Domain:    d.Name,
		Status:    d.Status,
		TXTName:   domainclaim.RecordName(d.Name),
		TXTValue:  d.TXTValue,
		CreatedAt: d.CreatedAt.UTC(),
	}
	if !d.VerifiedAt.IsZero() {
		v := d.VerifiedAt.UTC()
		b.VerifiedAt = &v
	}
	return b
}

// routeDomains dispatches a request under /api/v1/domains.
func (s *Server) routeDomains(rq *request, segs []string) (response, error) {
	switch {
	case len(segs) == 0:
		switch rq.Method {
		case http.MethodGet:
			return s.listDomains(rq)
		case http.MethodPost:
			return s.claimDomain(rq)
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodPost)
	case len(segs) == 1:
		switch rq.Method {
		case http.MethodGet:
			return s.getDomain(rq, segs[0])
		case http.MethodDelete:
			return s.removeDomain(rq, segs[0])
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodDelete)
	case len(segs) == 2 && segs[1] == "verify":
		if rq.Method != http.MethodPost {
			return response{}, methodNotAllowed(rq, http.MethodPost)
		}
		return s.verifyDomain(rq, segs[0])
	}
	return response{}, notFound("no such endpoint")
}

func (s *Server) listDomains(rq *request) (response, error) {
	ds, err := s.admin.Domains(rq.ctx(), rq.tenant)
	if err != nil {
		return response{}, fmt.Errorf("listing domains: %w", err)
	}
	out := make([]domainBody, len(ds))
	for i, d := range ds {
		out[i] = toDomainBody(d)
	}
	return response{status: http.StatusOK, body: map[string]any{"domains": out}}, nil
}

func (s *Server) claimDomain(rq *request) (response, error) {
	body, err := readObject(rq)
	if err != nil {
		return response{}, err
	}
	raw, _ := body["domain"].(string)
	if raw == "" {
		return response{}, errorf(http.StatusBadRequest, "", `the body needs "domain": the email domain to claim, such as "acme.com"`)
	}
	d, err := s.admin.ClaimDomain(rq.ctx(), rq.tenant, rq.actor, raw)
	if err != nil {
		return response{}, domainErr(err, raw)
	}
	return response{status: http.StatusCreated, body: toDomainBody(d), location: rq.base + "/domains/" + d.Name}, nil
}

func (s *Server) getDomain(rq *request, raw string) (response, error) {
	d, err := s.admin.Domain(rq.ctx(), rq.tenant, raw)
	if err != nil {
		return response{}, domainErr(err, raw)
	}
	return response{status: http.StatusOK, body: toDomainBody(d)}, nil
}

// verifyDomain looks up the TXT challenge and marks the claim verified, or
// answers 422 with what the lookup found.
func (s *Server) verifyDomain(rq *request, raw string) (response, error) {
	d, err := s.admin.VerifyDomain(rq.ctx(), rq.tenant, rq.actor, raw)
	if err != nil {
		return response{}, domainErr(err, raw)
	}
	return response{status: http.StatusOK, body: toDomainBody(d)}, nil
}

// removeDomain deletes a claim. Members keep their membership; new
// sign-ins and provisioning in the domain are refused from then on. A
// domain declared in the Caddyfile comes back at the next config load,
// so removing it here would only look done: that is 409 with the fix.
func (s *Server) removeDomain(rq *request, raw string) (response, error) {
	if err := s.admin.RemoveDomain(rq.ctx(), rq.tenant, rq.actor, raw); err != nil {
		return response{}, domainErr(err, raw)
	}
	return response{status: http.StatusNoContent}, nil
}

// domainErr words orgadmin's refusals of a domain operation: a malformed
// name or public suffix is 400, a claim the rules refuse 409, a TXT
// record that does not prove the claim 422, no claim 404.
func domainErr(err error, raw string) error {
	var ve *orgadmin.VerifyError
	switch {
	case errors.As(err, &ve):
		return errorf(http.StatusUnprocessableEntity, "", "%s", ve.Reason)
	case errors.Is(err, storage.ErrNotFound):
		name, _ := orgadmin.DomainName(raw) // valid: the lookup ran
		return notFound("%s is not claimed by this organization; claim it with POST /api/v1/domains", name)
	}
	return tenantErr(err, "domain "+printable(raw))
}
