package testidp

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/crewjam/saml"
)

// Answer answers an SP-initiated login in-process, as the /sso endpoint
// does for a browser signed in as email: redirect is the URL the SP sent
// the browser to (the HTTP-Redirect binding, with SAMLRequest and
// RelayState). It returns the ACS URL and the form the browser would post
// there (SAMLResponse, RelayState): a fresh response, signed as the IdP
// signs every response. Benchmarks use it to mint one response per
// sign-in, since the SP's replay cache accepts each only once.
func (p *IdP) Answer(redirect *url.URL, email string) (string, url.Values, error) {
	s := p.SessionFor(email)
	if s == nil {
		return "", nil, fmt.Errorf("unknown user %q", email)
	}
	r, err := http.NewRequest(http.MethodGet, redirect.String(), nil)
	if err != nil {
		return "", nil, err
	}
	req, err := saml.NewIdpAuthnRequest(p.IDP, r)
	if err != nil {
		return "", nil, fmt.Errorf("parsing the AuthnRequest: %w", err)
	}
	if err := req.Validate(); err != nil {
		return "", nil, fmt.Errorf("validating the AuthnRequest: %w", err)
	}
	if err := (assertionMaker{}).MakeAssertion(req, s); err != nil {
		return "", nil, err
	}
	form, err := req.PostBinding()
	if err != nil {
		return "", nil, err
	}
	return form.URL, url.Values{"SAMLResponse": {form.SAMLResponse}, "RelayState": {form.RelayState}}, nil
}
