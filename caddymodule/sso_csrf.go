package caddymodule

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// Every form the gate serves (password, discovery, org choice, sign-out,
// the switch of person, the Access Security pages) is guarded the same
// way, here:
//
//   - the CSRF cookie is made by the gate only: "<seed>.<mac>", the mac an
//     HMAC of the seed under a key of the gate's. A value the gate did not
//     make is never adopted: a new cookie replaces it. It is made anew at
//     every sign-in, so a cookie planted before (cookie tossing from a
//     sibling subdomain) does not outlive it;
//   - the form carries the token, an HMAC of the seed under another key,
//     compared in constant time;
//   - a POST must name this site: its Origin, or without one its Referer,
//     must be the site's origin. A POST with neither is refused, so the
//     token is never the only guard.

// csrfCookie holds the browser's CSRF seed and its mac.
const csrfCookie = "ssogate_csrf"

// csrfSeedLen is the length of a seed: 32 random bytes, base64url.
const csrfSeedLen = 43

// csrfSeed returns the seed of the request's CSRF cookie when the gate
// made it.
func (h *SSOHandler) csrfSeed(r *http.Request) (string, bool) {
	v := cookieValue(r.Header, csrfCookie)
	seed, mac, ok := strings.Cut(v, ".")
	if !ok || len(seed) != csrfSeedLen {
		return "", false
	}
	return seed, hmac.Equal([]byte(mac), []byte(h.csrfMAC(h.csrfCookieKey, seed)))
}

// csrfMAC is the HMAC of a seed under key, base64url.
func (h *SSOHandler) csrfMAC(key []byte, seed string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfFor is the form token of a seed.
func (h *SSOHandler) csrfFor(seed string) string { return h.csrfMAC(h.csrfKey, seed) }

// csrfToken returns the form token for the browser, setting a new cookie
// when the browser has none the gate made.
func (h *SSOHandler) csrfToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if seed, ok := h.csrfSeed(r); ok {
		return h.csrfFor(seed), nil
	}
	seed, err := h.setCSRFCookie(w, r)
	if err != nil {
		return "", err
	}
	return h.csrfFor(seed), nil
}

// rotateCSRF gives the browser a new CSRF cookie: at every sign-in.
func (h *SSOHandler) rotateCSRF(w http.ResponseWriter, r *http.Request) error {
	_, err := h.setCSRFCookie(w, r)
	return err
}

func (h *SSOHandler) setCSRFCookie(w http.ResponseWriter, r *http.Request) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	seed := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: seed + "." + h.csrfMAC(h.csrfCookieKey, seed), Path: h.PathPrefix,
		HttpOnly: true, Secure: h.origin(r).Scheme == "https", SameSite: http.SameSiteStrictMode})
	return seed, nil
}

// formRefusal says why a posted form was refused.
type formRefusal struct {
	// Code goes to the log; Reason to the page.
	Code, Reason string
}

func (f *formRefusal) Error() string { return f.Code + ": " + f.Reason }

var (
	errFormToken = &formRefusal{"csrf_token", "The form expired or was not made for this browser. Please try again."}
	errFormSite  = &formRefusal{"csrf_origin", "The form was sent from another site. Nothing was changed."}
	errFormBlind = &formRefusal{"csrf_no_origin", "The browser sent neither an Origin nor a Referer header, so the form cannot be told apart from one sent by another site. Nothing was changed."}
)

// checkForm checks a parsed POST form of the gate: its token against the
// browser's CSRF cookie, and that it was sent from this site. It returns
// nil or a *formRefusal.
func (h *SSOHandler) checkForm(r *http.Request) error {
	seed, ok := h.csrfSeed(r)
	tok := r.PostForm.Get("csrf")
	if !ok || tok == "" || !hmac.Equal([]byte(h.csrfFor(seed)), []byte(tok)) {
		return errFormToken
	}
	return fromSite(r, h.origin(r))
}

// fromSite checks that a POST was sent from origin: by its Origin header,
// or by its Referer when it has no Origin ("null", sent from a sandbox or
// a no-referrer page, is another site).
func fromSite(r *http.Request, origin *url.URL) error {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
		if from == "" {
			return errFormBlind
		}
	}
	u, err := url.Parse(from)
	if err != nil || u.Scheme != origin.Scheme || !strings.EqualFold(u.Host, origin.Host) {
		return errFormSite
	}
	return nil
}
