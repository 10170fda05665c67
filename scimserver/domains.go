package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The domain-claim API (SPEC section 6): an org admin claims an email
// domain, publishes the TXT challenge, and asks for verification. A
// verified domain lets the org's IdP sign in and provision its people; a
// pending claim counts for nothing and blocks no one.

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

// domainName normalizes a domain from a body or a path: 400 with the
// reason when it is malformed or a public suffix.
func domainName(raw string) (string, error) {
	d, err := domainclaim.Normalize(raw)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "", "%v", err)
	}
	return d, nil
}

func (s *Server) listDomains(rq *request) (response, error) {
	ds, err := s.store.ListDomains(rq.ctx(), rq.org)
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
	name, err := domainName(raw)
	if err != nil {
		return response{}, err
	}
	if d, err := s.store.DomainByName(rq.ctx(), rq.org, name); err == nil {
		return response{}, errorf(http.StatusConflict, "", "%s is already claimed by this organization (status %s); see GET /api/v1/domains/%s", name, d.Status, name)
	}
	challenge, err := domainclaim.NewChallenge()
	if err != nil {
		return response{}, fmt.Errorf("making a challenge: %w", err)
	}
	d, err := s.store.ClaimDomain(rq.ctx(), rq.org, name, challenge)
	if errors.Is(err, storage.ErrConflict) {
		return response{}, errorf(http.StatusConflict, "", "%s is verified by another organization; a domain belongs to one organization at a time", name)
	}
	if err != nil {
		return response{}, fmt.Errorf("claiming %s: %w", name, err)
	}
	s.log.Info("claimed domain", zap.Int64("org_id", rq.org), zap.String("domain", name))
	return response{status: http.StatusCreated, body: toDomainBody(d), location: rq.base + "/domains/" + name}, nil
}

func (s *Server) getDomain(rq *request, raw string) (response, error) {
	d, err := s.domain(rq, raw)
	if err != nil {
		return response{}, err
	}
	return response{status: http.StatusOK, body: toDomainBody(d)}, nil
}

// domain returns the org's claim on raw, or 404.
func (s *Server) domain(rq *request, raw string) (storage.Domain, error) {
	name, err := domainName(raw)
	if err != nil {
		return storage.Domain{}, err
	}
	d, err := s.store.DomainByName(rq.ctx(), rq.org, name)
	if errors.Is(err, storage.ErrNotFound) {
		return d, notFound("%s is not claimed by this organization; claim it with POST /api/v1/domains", name)
	}
	if err != nil {
		return d, fmt.Errorf("reading %s: %w", name, err)
	}
	return d, nil
}

// verifyDomain looks up the TXT challenge and marks the claim verified, or
// answers 422 with what the lookup found.
func (s *Server) verifyDomain(rq *request, raw string) (response, error) {
	d, err := s.domain(rq, raw)
	if err != nil {
		return response{}, err
	}
	if d.Status == storage.DomainVerified {
		return response{status: http.StatusOK, body: toDomainBody(d)}, nil
	}
	if err := domainclaim.Verify(rq.ctx(), s.resolver, d.Name, d.TXTValue); err != nil {
		return response{}, errorf(http.StatusUnprocessableEntity, "",
			"%v; publish a TXT record at %s with the value %s, wait for DNS to serve it, and retry",
			err, domainclaim.RecordName(d.Name), d.TXTValue)
	}
	d, err = s.store.MarkDomainVerified(rq.ctx(), rq.org, d.Name)
	if errors.Is(err, storage.ErrConflict) {
		return response{}, errorf(http.StatusConflict, "", "%s was verified by another organization first", d.Name)
	}
	if err != nil {
		return response{}, fmt.Errorf("verifying %s: %w", raw, err)
	}
	s.log.Info("verified domain", zap.Int64("org_id", rq.org), zap.String("domain", d.Name))
	return response{status: http.StatusOK, body: toDomainBody(d)}, nil
}

// removeDomain deletes a claim. Members keep their membership; new
// sign-ins and provisioning in the domain are refused from then on. A
// domain declared in the Caddyfile comes back at the next config load,
// so removing it here would only look done: that is 409 with the fix.
func (s *Server) removeDomain(rq *request, raw string) (response, error) {
	d, err := s.domain(rq, raw)
	if err != nil {
		return response{}, err
	}
	if d.FromConfig {
		return response{}, errorf(http.StatusConflict, "", "%s is declared in the Caddyfile (a domain line); remove it there and reload", d.Name)
	}
	if err := tenant.CheckDomainRemoval(rq.ctx(), s.store, rq.org, d.Name); err != nil {
		return response{}, tenantErr(err, "checking the domain's removal")
	}
	if err := s.store.RemoveDomain(rq.ctx(), rq.org, d.Name); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return response{}, notFound("%s is not claimed by this organization", d.Name)
		}
		return response{}, fmt.Errorf("removing %s: %w", d.Name, err)
	}
	s.log.Info("removed domain", zap.Int64("org_id", rq.org), zap.String("domain", d.Name))
	return response{status: http.StatusNoContent}, nil
}
