package sso

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// trackCookiePrefix starts the name of each pending-login cookie; the rest
// of the name is the login's RelayState.
const trackCookiePrefix = "ssogate_req_"

// trackLifetime bounds how long a login may sit at the IdP.
const trackLifetime = 10 * time.Minute

// Tracker ties each AuthnRequest to the browser that started it: the
// request ID and the return path travel in a signed, encrypted, short-lived
// cookie named after an opaque RelayState, so a response can only complete
// a login that this browser began (no login CSRF, no session swap) and
// RelayState is never trusted as a URL.
type Tracker struct {
	codec *securecookie.SecureCookie
}

// NewTracker returns a Tracker keyed with hashKey (32 or 64 bytes) and
// blockKey (32 bytes, AES-256).
func NewTracker(hashKey, blockKey []byte) *Tracker {
	c := securecookie.New(hashKey, blockKey)
	c.MaxAge(int(trackLifetime / time.Second))
	c.SetSerializer(securecookie.NopEncoder{})
	return &Tracker{codec: c}
}

// Pending is a login this browser started.
type Pending struct {
	RequestID  string
	ReturnPath string
	// Org is the org the login is for: the response must come back to
	// that org's ACS.
	Org string
	// Test, when set, is the test sign-in this login runs: its response
	// is reported, and signs nobody in.
	Test string
	// Logout marks a LogoutRequest sent to the IdP (RequestID is its ID):
	// only the IdP's LogoutResponse answers it, never an assertion.
	Logout bool
}

// NewRelayState returns a fresh opaque RelayState (22 characters, within
// the 80 bytes SAML allows).
func NewRelayState() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Track sets the cookie for a login. secure says the site is served over
// https: then the cookie is SameSite=None; Secure, because the IdP's POST to
// the ACS is cross-site; over plain http (local setups) it is Lax.
func (t *Tracker) Track(w http.ResponseWriter, relayState string, p Pending, secure bool, path string) error {
	kind := ""
	if p.Logout {
		kind = "logout"
	}
	val := make([]byte, 0, 8+len(p.RequestID)+len(p.Org)+len(p.Test)+len(kind)+len(p.ReturnPath))
	for _, field := range []string{p.RequestID, p.Org, p.Test, kind} {
		val = binary.AppendUvarint(val, uint64(len(field)))
		val = append(val, field...)
	}
	val = append(val, p.ReturnPath...)
	name := trackCookiePrefix + relayState
	enc, err := t.codec.Encode(name, val)
	if err != nil {
		return err
	}
	c := &http.Cookie{
		Name: name, Value: enc, Path: path, MaxAge: int(trackLifetime / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
	if secure {
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
	return nil
}

// maxPending bounds the pending-login cookies a browser holds: a user
// stuck in a redirect loop would otherwise pile them up until the request
// headers are too large for any server.
const maxPending = 8

// Prune expires this browser's pending-login cookies when it holds
// maxPending or more, before a new login is tracked.
func (t *Tracker) Prune(w http.ResponseWriter, r *http.Request, path string, secure bool) {
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, trackCookiePrefix) {
			names = append(names, c.Name)
		}
	}
	if len(names) < maxPending {
		return
	}
	for _, name := range names {
		t.Forget(w, strings.TrimPrefix(name, trackCookiePrefix), path, secure)
	}
}

// errNoPending reports a RelayState with no valid pending login.
var errNoPending = errors.New("no pending login for this RelayState")

// Resolve returns the pending login named by relayState, if this browser
// holds a valid cookie for it.
func (t *Tracker) Resolve(r *http.Request, relayState string) (Pending, error) {
	if relayState == "" || len(relayState) > 64 || strings.ContainsAny(relayState, "=;, \t") {
		return Pending{}, errNoPending
	}
	c, err := r.Cookie(trackCookiePrefix + relayState)
	if err != nil {
		return Pending{}, errNoPending
	}
	var val []byte
	if err := t.codec.Decode(c.Name, c.Value, &val); err != nil {
		return Pending{}, errNoPending
	}
	var fields [4]string
	for i := range fields {
		n, k := binary.Uvarint(val)
		if k <= 0 || uint64(len(val)-k) < n {
			return Pending{}, errNoPending
		}
		fields[i], val = string(val[k:k+int(n)]), val[k+int(n):]
	}
	return Pending{RequestID: fields[0], Org: fields[1], Test: fields[2], Logout: fields[3] == "logout", ReturnPath: string(val)}, nil
}

// Forget deletes the pending login's cookie, so the request ID cannot be
// answered twice.
func (t *Tracker) Forget(w http.ResponseWriter, relayState, path string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: trackCookiePrefix + relayState, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: secure})
}

// SafeReturnPath reports whether s is a local absolute path that is safe to
// redirect to: it starts with one slash, has no scheme, host, backslash or
// control character, and parses as a URL. Anything else (//evil, /\evil,
// https://evil, javascript:, /100%) is refused.
func SafeReturnPath(s string) bool {
	if s == "" || len(s) > 2048 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	// It must also be a valid URL reference ("/100%" is not), so that the
	// redirect goes through http.Redirect's path cleaning like any other.
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == ""
}

// ReturnPathParam returns the rd parameter of a raw query string, "" when
// there is none. A proxy that cannot escape a variable (nginx's
// "rd=$request_uri") sends the original URI as it came, its own query
// unescaped: when rd's value holds a literal '?', the rest of the query
// string belongs to that URI and is taken whole, so "rd=/a?x=1&y=2" is
// "/a?x=1&y=2", not "/a?x=1". Whatever it returns still needs
// SafeReturnPath.
func ReturnPathParam(rawQuery string) string {
	for i := 0; i < len(rawQuery); {
		end := strings.IndexByte(rawQuery[i:], '&')
		if end < 0 {
			end = len(rawQuery)
		} else {
			end += i
		}
		if v, ok := strings.CutPrefix(rawQuery[i:end], "rd="); ok {
			if strings.IndexByte(v, '?') >= 0 {
				return rawQuery[i+len("rd="):]
			}
			s, err := url.QueryUnescape(v)
			if err != nil {
				return ""
			}
			return s
		}
		i = end + 1
	}
	return ""
}
