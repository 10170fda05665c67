package sso

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/crewjam/saml"
)

// Single logout, both ways (saml-profiles §4.4):
//
//   - SP-initiated: LogoutURL sends the browser to the IdP with a signed
//     LogoutRequest; the IdP's LogoutResponse comes back to the logout
//     endpoint and is checked with ParseLogoutResponse.
//   - IdP-initiated: the IdP sends a LogoutRequest to the logout endpoint;
//     ParseLogoutRequest validates it (signature, issuer, destination, time,
//     one use), the caller ends the sessions it names, and AnswerLogout
//     makes the signed LogoutResponse, on the binding the request came with.

// MaxLogoutBody bounds a logout message posted to the logout endpoint.
const MaxLogoutBody = 256 << 10

// LogoutRequest is a validated LogoutRequest from the IdP.
type LogoutRequest struct {
	ID     string
	NameID string
	// SessionIndexes are the IdP sessions to end; none means every
	// session of NameID.
	SessionIndexes []string
	RelayState     string
	// Binding is how it came: saml.HTTPRedirectBinding or HTTPPostBinding.
	Binding string
}

// logoutReason is the public reason for every refused logout message.
const logoutReason = "the identity provider's logout message is not valid"

// HasSingleLogout reports whether the IdP lists a single logout endpoint.
func (p *Provider) HasSingleLogout() bool {
	for _, d := range p.cfg.IDP.IDPSSODescriptors {
		if len(d.SingleLogoutServices) > 0 {
			return true
		}
	}
	return false
}

// OutgoingLogout is a LogoutRequest on its way to the IdP: a URL to
// redirect the browser to (HTTP-Redirect) or a page that posts it
// (HTTP-POST), and its ID, which the IdP's LogoutResponse must answer.
type OutgoingLogout struct {
	Redirect  *url.URL
	Form      []byte
	RequestID string
}

// StartLogout makes the signed LogoutRequest that ends the IdP's session
// of nameID (in nameIDFormat, as the assertion had it; empty for the
// format requested at sign-in) and sessionIndex, or nil when the IdP lists
// no single logout endpoint. HTTP-Redirect is preferred; nonce is the CSP
// nonce of the HTTP-POST page's script.
func (p *Provider) StartLogout(origin *url.URL, nameID, nameIDFormat, sessionIndex, relayState, nonce string) (*OutgoingLogout, error) {
	if nameID == "" {
		return nil, nil
	}
	sp := p.serviceProvider(origin, p.ACSURL(origin), false)
	opts := []saml.LogoutRequestOption{func(r *saml.LogoutRequest) {
		if nameIDFormat != "" {
			r.NameID.Format = nameIDFormat
		}
	}}
	if sessionIndex != "" {
		opts = append(opts, saml.WithSessionIndex(sessionIndex))
	}
	for _, b := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
		dest := sp.GetSLOBindingLocation(b)
		if dest == "" {
			continue
		}
		req, err := sp.MakeLogoutRequest(dest, nameID, opts...)
		if err != nil {
			return nil, fmt.Errorf("making LogoutRequest: %w", err)
		}
		out := &OutgoingLogout{RequestID: req.ID}
		if b == saml.HTTPRedirectBinding {
			if out.Redirect, err = sp.RedirectLogoutRequestURL(req, relayState); err != nil {
				return nil, fmt.Errorf("encoding LogoutRequest: %w", err)
			}
		} else {
			out.Form = req.PostWithNonce(relayState, nonce)
		}
		return out, nil
	}
	return nil, nil
}

// ParseLogoutRequest validates the IdP's LogoutRequest at the logout
// endpoint of origin. A posted request's body must be bounded by the
// caller (MaxLogoutBody). The request is recorded in the replay cache, so
// it is accepted once.
func (p *Provider) ParseLogoutRequest(r *http.Request, origin *url.URL) (*LogoutRequest, error) {
	sp := p.serviceProvider(origin, p.ACSURL(origin), false)
	binding := saml.HTTPRedirectBinding
	relay := r.URL.Query().Get("RelayState")
	if r.Method == http.MethodPost {
		binding = saml.HTTPPostBinding
		if err := r.ParseForm(); err != nil {
			return nil, refuse(CodeMalformed, logoutReason, err)
		}
		relay = r.PostForm.Get("RelayState")
	}
	req, err := sp.ValidateLogoutRequest(r)
	if err != nil {
		return nil, logoutRefusal(err)
	}
	if req.NameID == nil || req.NameID.Value == "" {
		return nil, refuse(CodeInvalid, logoutReason, errors.New("the LogoutRequest names no NameID"))
	}
	out := &LogoutRequest{ID: req.ID, NameID: req.NameID.Value, RelayState: relay, Binding: binding}
	for _, ix := range req.AllSessionIndexes() {
		if ix.Value != "" {
			out.SessionIndexes = append(out.SessionIndexes, ix.Value)
		}
	}
	return out, nil
}

// AnswerLogout makes the signed LogoutResponse to req, on the binding the
// request came with when the IdP has an endpoint for it, else on the
// other: a URL to redirect the browser to, or an HTML page that posts the
// form (nonce is its script's CSP nonce). partial reports that not every
// session named could be ended. Both results are nil when the IdP lists no
// single logout endpoint at all.
func (p *Provider) AnswerLogout(origin *url.URL, req *LogoutRequest, partial bool, nonce string) (*url.URL, []byte, error) {
	sp := *p.serviceProvider(origin, p.ACSURL(origin), false)
	// The answer goes to the endpoint's ResponseLocation when it has one
	// (saml-metadata §2.2.2); crewjam only reads Location.
	sp.IDPMetadata = withResponseLocations(sp.IDPMetadata)
	status := saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}}
	if partial {
		status.StatusCode.StatusCode = &saml.StatusCode{Value: saml.StatusPartialLogout}
	}
	bindings := []string{req.Binding, saml.HTTPRedirectBinding, saml.HTTPPostBinding}
	for _, b := range bindings {
		dest := sp.GetSLOBindingLocation(b)
		if dest == "" {
			continue
		}
		if b == saml.HTTPRedirectBinding {
			u, err := sp.MakeRedirectLogoutResponseWithStatus(req.ID, req.RelayState, status)
			if err != nil {
				return nil, nil, fmt.Errorf("making LogoutResponse: %w", err)
			}
			return u, nil, nil
		}
		resp, err := sp.MakeLogoutResponseWithStatus(dest, req.ID, status)
		if err != nil {
			return nil, nil, fmt.Errorf("making LogoutResponse: %w", err)
		}
		return nil, resp.PostWithNonce(req.RelayState, nonce), nil
	}
	return nil, nil, nil
}

// withResponseLocations returns the IdP metadata with each single logout
// endpoint's ResponseLocation, where it has one, as its Location.
func withResponseLocations(ed *saml.EntityDescriptor) *saml.EntityDescriptor {
	changed := false
	for _, d := range ed.IDPSSODescriptors {
		for _, e := range d.SingleLogoutServices {
			changed = changed || e.ResponseLocation != ""
		}
	}
	if !changed {
		return ed
	}
	out := *ed
	out.IDPSSODescriptors = append([]saml.IDPSSODescriptor(nil), ed.IDPSSODescriptors...)
	for i := range out.IDPSSODescriptors {
		d := &out.IDPSSODescriptors[i]
		d.SingleLogoutServices = append([]saml.Endpoint(nil), d.SingleLogoutServices...)
		for j := range d.SingleLogoutServices {
			if e := &d.SingleLogoutServices[j]; e.ResponseLocation != "" {
				e.Location = e.ResponseLocation
			}
		}
	}
	return &out
}

// ParseLogoutResponse checks the IdP's LogoutResponse to the LogoutRequest
// requestID that this browser's logout sent (signature, issuer,
// destination, time, InResponseTo). A response whose status is not
// success is reported with CodeLogoutFailed: the local session is gone
// all the same, but the IdP's may not be.
func (p *Provider) ParseLogoutResponse(r *http.Request, origin *url.URL, requestID string) error {
	sp := p.serviceProvider(origin, p.ACSURL(origin), false)
	_, err := sp.ParseLogoutResponse(r, []string{requestID})
	if err == nil {
		return nil
	}
	var bad saml.ErrBadStatus
	if errors.As(err, &bad) {
		return refuse(CodeLogoutFailed, "the identity provider could not end its own session", err)
	}
	return logoutRefusal(err)
}

// logoutRefusal turns crewjam's refusal of a logout message into ours.
func logoutRefusal(err error) *Refusal {
	private := err
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		private = ire.PrivateErr
	}
	switch {
	case errors.Is(private, saml.ErrMalformedMessage):
		return refuse(CodeMalformed, logoutReason, private)
	case errors.Is(private, saml.ErrExpired), errors.Is(private, saml.ErrNotYetValid):
		return refuse(CodeTime, timeReason, private)
	case errors.Is(private, saml.ErrAssertionReplayed):
		return refuse(CodeReplayed, logoutReason, private)
	}
	return refuse(CodeInvalid, logoutReason, private)
}
