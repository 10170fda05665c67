package testidp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// LogoutPeer speaks single logout with one service provider as this IdP:
// it sends the SP signed LogoutRequests (IdP-initiated logout) and checks
// the LogoutResponses it answers with, and it checks the SP's own
// LogoutRequests (SP-initiated) and answers them.
//
// It is crewjam's ServiceProvider turned around: a LogoutRequest or
// LogoutResponse has the same shape whichever side sends it, so a
// ServiceProvider whose entity and key are the IdP's, and whose "IdP" is
// the SP (its signing certificates and logout endpoint), makes and checks
// exactly the messages this IdP would.
type LogoutPeer struct {
	mirror *saml.ServiceProvider
}

// LogoutPeer returns the peer for the SP with this entity ID (it must be
// known: added, or learnt from its metadata URL).
func (p *IdP) LogoutPeer(spEntityID string) (*LogoutPeer, error) {
	md, err := p.serviceProvider(spEntityID)
	if err != nil {
		return nil, err
	}
	if len(md.SPSSODescriptors) == 0 {
		return nil, errors.New("the SP metadata has no SPSSODescriptor")
	}
	sp := md.SPSSODescriptors[0]
	asIDP := &saml.EntityDescriptor{EntityID: md.EntityID, IDPSSODescriptors: []saml.IDPSSODescriptor{{
		SSODescriptor: saml.SSODescriptor{
			RoleDescriptor:       saml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol", KeyDescriptors: sp.KeyDescriptors},
			SingleLogoutServices: sp.SingleLogoutServices,
		},
	}}}
	mirror := &saml.ServiceProvider{
		EntityID:              p.EntityID(),
		Key:                   p.Key,
		Certificate:           p.Cert,
		SloURL:                *p.IDP.MetadataURL.JoinPath("..", "slo"),
		IDPMetadata:           asIDP,
		LogoutSignatureMethod: dsig.RSASHA256SignatureMethod,
		Clock:                 p.IDP.Clock,
		AuthnNameIDFormat:     saml.EmailAddressNameIDFormat,
	}
	if len(sp.SingleLogoutServices) == 0 {
		return nil, errors.New("the SP publishes no single logout endpoint")
	}
	return &LogoutPeer{mirror: mirror}, nil
}

// SLOURL is this IdP's single logout endpoint, as LogoutPeer expects the
// SP's messages to be addressed.
func (p *IdP) SLOURL() string { return p.IDP.MetadataURL.JoinPath("..", "slo").String() }

// EnableSingleLogout publishes SLOURL in the IdP's metadata (HTTP-Redirect
// and HTTP-POST), where Handler answers the SPs' LogoutRequests.
func (p *IdP) EnableSingleLogout() {
	u, _ := url.Parse(p.SLOURL())
	p.IDP.LogoutURL = *u
	p.IDP.LogoutBindings = []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding}
}

// serveSLO answers an SP's LogoutRequest with a signed LogoutResponse,
// trying the SPs it knows: the one whose key signed the request wins.
func (p *IdP) serveSLO(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.sps))
	for id := range p.sps {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	var errs []error
	for _, id := range ids {
		peer, err := p.LogoutPeer(id)
		if err != nil {
			continue
		}
		req, answer, err := peer.Answer(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		p.mu.Lock()
		p.loggedOut = append(p.loggedOut, req.NameID.Value)
		p.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: userCookie, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, answer.String(), http.StatusFound)
		return
	}
	http.Error(w, fmt.Sprintf("no service provider sent this LogoutRequest: %v", errors.Join(errs...)), http.StatusBadRequest)
}

// LoggedOut returns the NameIDs whose logout the IdP answered, in order.
func (p *IdP) LoggedOut() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.loggedOut...)
}

// RedirectRequest is a signed HTTP-Redirect LogoutRequest to the SP for
// the person's session (sessionIndex may be empty: every session), and its
// ID.
func (l *LogoutPeer) RedirectRequest(nameID, sessionIndex, relayState string) (*url.URL, string, error) {
	req, err := l.request(saml.HTTPRedirectBinding, nameID, sessionIndex)
	if err != nil {
		return nil, "", err
	}
	u, err := l.mirror.RedirectLogoutRequestURL(req, relayState)
	return u, req.ID, err
}

// PostRequest is a signed HTTP-POST LogoutRequest to the SP: the URL to
// post to, the form, and the request's ID.
func (l *LogoutPeer) PostRequest(nameID, sessionIndex, relayState string) (string, url.Values, string, error) {
	req, err := l.request(saml.HTTPPostBinding, nameID, sessionIndex)
	if err != nil {
		return "", nil, "", err
	}
	doc, err := logoutRequestXML(req)
	if err != nil {
		return "", nil, "", err
	}
	return req.Destination, url.Values{"SAMLRequest": {doc}, "RelayState": {relayState}}, req.ID, nil
}

func (l *LogoutPeer) request(binding, nameID, sessionIndex string) (*saml.LogoutRequest, error) {
	dest := l.mirror.GetSLOBindingLocation(binding)
	if dest == "" {
		return nil, fmt.Errorf("the SP has no %s logout endpoint", binding)
	}
	var opts []saml.LogoutRequestOption
	if sessionIndex != "" {
		opts = append(opts, saml.WithSessionIndex(sessionIndex))
	}
	return l.mirror.MakeLogoutRequest(dest, nameID, opts...)
}

// CheckResponse checks the SP's LogoutResponse to requestID, as the
// browser brings it to this IdP (HTTP-Redirect or HTTP-POST): signed by
// the SP, addressed to this IdP, status Success.
func (l *LogoutPeer) CheckResponse(r *http.Request, requestID string) error {
	_, err := l.mirror.ParseLogoutResponse(r, []string{requestID})
	return privateErr(err)
}

// Answer checks the SP's LogoutRequest, as the browser brings it to this
// IdP, and returns it with the URL of the signed HTTP-Redirect
// LogoutResponse that answers it.
func (l *LogoutPeer) Answer(r *http.Request) (*saml.LogoutRequest, *url.URL, error) {
	req, err := l.mirror.ValidateLogoutRequest(r)
	if err != nil {
		return nil, nil, privateErr(err)
	}
	u, err := l.mirror.MakeRedirectLogoutResponse(req.ID, r.URL.Query().Get("RelayState"))
	return req, u, err
}

// privateErr unwraps crewjam's InvalidResponseError, whose message says
// nothing, to the cause.
func privateErr(err error) error {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		return ire.PrivateErr
	}
	return err
}

// logoutRequestXML is the signed request, base64-encoded, as the HTTP-POST
// binding sends it.
func logoutRequestXML(req *saml.LogoutRequest) (string, error) {
	b, err := req.Bytes()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
