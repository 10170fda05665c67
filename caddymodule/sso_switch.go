package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// An IdP-initiated sign-in comes unasked: anyone with an account at an
// org's IdP can have it post their own valid response into another
// person's browser from any site (login CSRF). When that would replace
// the live session of another member, the sign-in is held and the person
// asked: "You are signed in as A. Continue as B?". The same member, or a
// browser without a session, signs in as before.
//
// A held sign-in has been checked in full (the assertion verified and
// recorded as used, the member admitted); what is left, who and which IdP
// session, waits in a signed, encrypted cookie that lives two minutes and
// completes one session at most. Neither the page nor the cookie carries
// the assertion.
//
// The IdP's POST comes from another site, so browsers withhold the
// SameSite=Lax session cookie from it: when the POST says it is cross-site
// (Sec-Fetch-Site) and shows no session, the sign-in is held and the
// browser sent to GET the ACS, same-site, where its session shows.

// heldCookie holds a held sign-in.
const heldCookie = "ssogate_held"

// heldLifetime bounds how long a held sign-in waits for the person.
const heldLifetime = 2 * time.Minute

// heldSignIn is an IdP-initiated sign-in waiting for the person's word.
type heldSignIn struct {
	// ID completes one session: it is recorded as used with it.
	ID       string `json:"i"`
	OrgID    int64  `json:"o"`
	MemberID string `json:"m"`
	Email    string `json:"e"`
	// What the IdP said about its session, for the session and single
	// logout.
	NameID       string `json:"n,omitempty"`
	SessionIndex string `json:"s,omitempty"`
	NotAfter     int64  `json:"a,omitempty"`
	ReturnPath   string `json:"r"`
	Expires      int64  `json:"x"`
}

func newHeldCodec(key []byte) *securecookie.SecureCookie {
	c := securecookie.New(gate.DeriveKey(key, "ssogate held hmac"), gate.DeriveKey(key, "ssogate held aes"))
	c.MaxAge(int(heldLifetime / time.Second))
	c.SetSerializer(securecookie.JSONEncoder{})
	return c
}

// sameMember reports whether a session is the member's.
func sameMember(cur storage.Identity, orgID int64, memberID string) bool {
	return cur.OrgID == orgID && cur.MemberID == memberID
}

// holdSwitch holds an admitted IdP-initiated sign-in that may replace the
// session of another member, and answers the browser; it reports whether
// it did. Otherwise the caller signs the member in.
func (h *SSOHandler) holdSwitch(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site, member storage.Identity, ident *sso.Identity, returnPath string) (bool, error) {
	cur := h.session(r)
	switch {
	case cur != nil && sameMember(cur.Identity, member.OrgID, member.MemberID):
		return false, nil
	case cur == nil && r.Header.Get("Sec-Fetch-Site") != "cross-site":
		// The browser would have sent its session cookie: it has none.
		return false, nil
	}
	// Used now, whatever the person answers.
	err := h.store.ConsumeAssertion(r.Context(), ident.AssertionID, replayExpiry(ident.ReplayUntil))
	if errors.Is(err, storage.ErrReplayed) {
		return true, h.refuse(w, r, t, sso.Replayed(ident.AssertionID), ident.Email)
	}
	if err != nil {
		return true, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return true, err
	}
	held := heldSignIn{
		ID: base64.RawURLEncoding.EncodeToString(id[:]), OrgID: member.OrgID, MemberID: member.MemberID, Email: member.Email,
		NameID: ident.NameID, SessionIndex: ident.SessionIndex, ReturnPath: returnPath,
		Expires: time.Now().Add(heldLifetime).Unix(),
	}
	if !ident.SessionNotOnOrAfter.IsZero() {
		held.NotAfter = ident.SessionNotOnOrAfter.Unix()
	}
	enc, err := h.heldCodec.Encode(heldCookie, held)
	if err != nil {
		return true, err
	}
	http.SetCookie(w, &http.Cookie{Name: heldCookie, Value: enc, Path: h.PathPrefix, MaxAge: int(heldLifetime / time.Second),
		HttpOnly: true, Secure: h.origin(r).Scheme == "https", SameSite: http.SameSiteLaxMode})
	if cur == nil {
		h.logger.Info("sign-in held: looking for a session the cross-site post did not show",
			zap.String("org", t.Org.Name), zap.String("email", member.Email))
		http.Redirect(w, r, h.acsPath(t, s), http.StatusSeeOther)
		return true, nil
	}
	h.logger.Info("sign-in held: it would replace another member's session",
		zap.String("org", t.Org.Name), zap.String("email", member.Email),
		zap.String("signed_in_org", cur.Identity.OrgName), zap.String("signed_in_email", cur.Identity.Email))
	return true, h.renderSwitch(w, r, h.acsPath(t, s), cur, held)
}

// acsPath is the ACS of the org's site.
func (h *SSOHandler) acsPath(t *tenant.Tenant, s site) string {
	if s == siteOrg {
		return tenant.OrgPath(h.PathPrefix, t.Org.Name) + "/acs"
	}
	return h.PathPrefix + "/acs"
}

// openHeld returns the browser's held sign-in for the org.
func (h *SSOHandler) openHeld(r *http.Request, t *tenant.Tenant) (heldSignIn, bool) {
	var held heldSignIn
	v := cookieValue(r.Header, heldCookie)
	if v == "" || len(v) > 4096 || h.heldCodec.Decode(heldCookie, v, &held) != nil {
		return heldSignIn{}, false
	}
	if held.OrgID != t.Org.ID || time.Now().Unix() > held.Expires || !sso.SafeReturnPath(held.ReturnPath) {
		return heldSignIn{}, false
	}
	return held, true
}

func (h *SSOHandler) forgetHeld(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: heldCookie, Value: "", Path: h.PathPrefix, MaxAge: -1,
		HttpOnly: true, Secure: h.origin(r).Scheme == "https", SameSite: http.SameSiteLaxMode})
}

// hasHeld reports whether the request carries a held sign-in cookie.
func hasHeld(r *http.Request) bool { return cookieValue(r.Header, heldCookie) != "" }

// serveHeld is the ACS's GET after a cross-site post held a sign-in: the
// browser's session shows now. None, or the same member's: the sign-in
// completes; another member's: the person is asked.
func (h *SSOHandler) serveHeld(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	held, ok := h.openHeld(r, t)
	if !ok {
		h.forgetHeld(w, r)
		writePage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in waited too long or is finished. Sign in again from the app or your identity provider.", h.PathPrefix+"/login")
		return nil
	}
	cur := h.session(r)
	if cur == nil || sameMember(cur.Identity, held.OrgID, held.MemberID) {
		return h.completeHeld(w, r, t, held, false)
	}
	return h.renderSwitch(w, r, h.acsPath(t, s), cur, held)
}

// finishHeld takes the person's answer: continue as the held member, or
// stay as they are.
func (h *SSOHandler) finishHeld(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) error {
	if err := h.checkForm(r); err != nil {
		ref := err.(*formRefusal)
		h.logger.Warn("held sign-in: answer refused", zap.String("org", t.Org.Name), zap.String("reason", ref.Code),
			zap.String("remote_ip", clientIP(r)))
		writePage(w, http.StatusForbidden, "Nothing changed", ref.Reason, "")
		return nil
	}
	held, ok := h.openHeld(r, t)
	h.forgetHeld(w, r)
	if !ok {
		writePage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in waited too long or is finished. Sign in again from the app or your identity provider.", h.PathPrefix+"/login")
		return nil
	}
	if r.PostForm.Get("switch") != "continue" {
		h.logger.Info("held sign-in declined", zap.String("org", t.Org.Name), zap.String("email", held.Email))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return h.completeHeld(w, r, t, held, true)
}

// completeHeld signs the held member in, once: the org and the member are
// read again, as two minutes may have changed them.
func (h *SSOHandler) completeHeld(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, held heldSignIn, confirmed bool) error {
	h.forgetHeld(w, r)
	if !h.ssoEnabled(t) {
		return h.refuse(w, r, t, sso.Refuse(sso.CodeNotEnabled, "single sign-on is not enabled for this organization"), held.Email)
	}
	if !h.policy(t).AllowIDPInitiated {
		return h.refuse(w, r, t, sso.Refuse(sso.CodeUnsolicited, "IdP-initiated login is not allowed; start from the app"), held.Email)
	}
	ident, err := h.store.Identity(r.Context(), held.MemberID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && (ident.OrgID != held.OrgID || !ident.Active) {
		return h.refuse(w, r, t, sso.Refuse(sso.CodeDeactivated, "your account is deactivated in this organization"), held.Email)
	}
	if err != nil {
		return err
	}
	idp := gate.IdPSession{NameID: held.NameID, SessionIndex: held.SessionIndex,
		Assertion: &storage.ConsumedAssertion{ID: "held:" + held.ID, ExpiresAt: held.Expires + 1}}
	if held.NotAfter != 0 {
		idp.NotAfter = time.Unix(held.NotAfter, 0)
	}
	err = h.issueSession(w, r, ident, storage.MethodSAML, idp)
	if errors.Is(err, storage.ErrReplayed) {
		writePage(w, http.StatusForbidden, "Sign-in failed", "This sign-in is finished already.", h.PathPrefix+"/login")
		return nil
	}
	if err != nil {
		return err
	}
	h.logger.Info("sign-in",
		zap.String("method", "saml"),
		zap.String("org", t.Org.Name),
		zap.String("email", ident.Email),
		zap.String("member_id", ident.MemberID),
		zap.Bool("idp_initiated", true),
		zap.Bool("confirmed", confirmed),
	)
	countSignIn("saml", true, "")
	http.Redirect(w, r, held.ReturnPath, http.StatusSeeOther)
	return nil
}

type switchPageData struct {
	Action, CSRF                 string
	Email, Org, NewEmail, NewOrg string
}

// renderSwitch asks the person signed in as cur whether to continue as
// the held member; the answer posts to action, the org's ACS.
func (h *SSOHandler) renderSwitch(w http.ResponseWriter, r *http.Request, action string, cur *gate.Entry, held heldSignIn) error {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	newOrg := cur.Identity.OrgName
	if t := h.registry.ByID(held.OrgID); t != nil {
		newOrg = t.Org.Name
	}
	d := switchPageData{Action: action, CSRF: tok, Email: cur.Identity.Email, Org: cur.Identity.OrgName,
		NewEmail: held.Email, NewOrg: newOrg}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	return switchPage.Execute(w, d)
}

var switchPage = template.Must(template.New("switch").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Continue as {{.NewEmail}}?</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}
button{display:block;width:100%;box-sizing:border-box;text-align:center;background:#2557d6;color:#fff;padding:.7rem 1.2rem;border-radius:.4rem;border:0;font-size:1rem;cursor:pointer;margin:.6rem 0}
button.stay{background:#fff;color:#2557d6;border:1px solid #2557d6}
button:focus{outline:3px solid #f4b400;outline-offset:2px}
.note{color:#555;font-size:.9rem}
</style></head>
<body><main>
<h1>Continue as {{.NewEmail}}?</h1>
<p>You are signed in as <strong id="current">{{.Email}}</strong> in <strong>{{.Org}}</strong>.
Your identity provider has just signed in <strong id="next">{{.NewEmail}}</strong> in <strong>{{.NewOrg}}</strong>.</p>
<form method="post" action="{{.Action}}" id="switch-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" name="switch" value="continue" id="continue">Continue as {{.NewEmail}}</button>
<button type="submit" name="switch" value="stay" id="stay" class="stay">Stay as {{.Email}}</button>
</form>
<p class="note">If you did not just choose {{.NewEmail}} at your identity provider, stay: another site may have sent this sign-in to your browser.</p>
</main></body></html>
`))
