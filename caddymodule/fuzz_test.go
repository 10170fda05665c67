package caddymodule

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// FuzzCaddyfile feeds arbitrary text as the body of a saml_sso block and
// of the ssogate global option. Unmarshalling (and, when it succeeds,
// Validate and JSON encoding) must never panic.
//
// The text is tokenized with caddyfile.Tokenize rather than
// NewTestDispenser, which calls log.Fatal on a lexer error (an unclosed
// quote). Inputs naming /dev, /proc or /sys are skipped: idp_certificate
// reads the file it is given, and /dev/zero never ends; reading a file the
// operator names is the intended behaviour.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"",
		"org acme\nidp_sso_url https://idp.example/sso\nidp_issuer https://idp.example\nidp_certificate \"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"\n",
		"idp_metadata_url https://idp.example/md\nidp_metadata_refresh 1h\nbase_url https://app.example\n",
		"idp_metadata_file /nonexistent/md.xml\nentity_id urn:x\nrequestable_acs_url https://eu.app.example/sso/acs\n",
		"domain acme.com acme.org\ndomain ACME.net\nrequire_sso\nidp_managed_access\nallow_idp_initiated false\nallow_sha1\n",
		"session_lifetime 12h\nsession_idle 2h\nsession_key {env.SSOGATE_SESSION_KEY}\nclock_skew 90s\npath_prefix /sso\n",
		"clock_skew -1s\nsession_lifetime 1d\npath_prefix nope\nallow_idp_initiated maybe\norg a b\norg\n",
		"org a\norg b\n",
		"unknown_option x\n{\n}\n",
		"database sqlite /tmp/x.db\ndns_resolver 127.0.0.1:53\nchange_poll_interval 500ms\n",
		"database postgres x\ndatabase sqlite\ndns_resolver\nchange_poll_interval forever\n",
		"org \"unterminated\n",
		"{\n{\n}\n}\n}\n",
		"import x\n(snippet) {\n}\n",
		"idp_slo_url https://idp.example/slo\nsp_certificate /nonexistent/sp.pem\nsp_key {env.SP_KEY}\nsign_requests\ngroups_attribute groups\n",
		"groups_attribute \"\"\nsign_requests x\nidp_slo_url\nallow_rsa15_key_transport\n",
		"trusted_hosts app.example.com APP.example.com:8443 [::1]:9000\ntrusted_hosts *.example.com https://x/ :80 [::1\n",
		"base_url https://app.example\ntrusted_hosts app.example\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, dir := range []string{"/dev", "/proc", "/sys"} {
			if strings.Contains(body, dir) {
				t.Skip("reads a special file")
			}
		}

		if tokens, err := caddyfile.Tokenize([]byte("saml_sso {\n"+body+"\n}\n"), "Caddyfile"); err == nil {
			h := new(SSOHandler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
				_ = h.Validate()
				if _, err := json.Marshal(h); err != nil {
					t.Fatalf("encoding the parsed handler: %v", err)
				}
			}
		}

		if tokens, err := caddyfile.Tokenize([]byte("ssogate {\n"+body+"\n}\n"), "Caddyfile"); err == nil {
			a := new(App)
			if err := a.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
				if _, err := json.Marshal(a); err != nil {
					t.Fatalf("encoding the parsed app: %v", err)
				}
			}
			// The global option, also over a previous ssogate option.
			v, err := parseGlobalOption(caddyfile.NewDispenser(tokens), nil)
			if err == nil {
				_, _ = parseGlobalOption(caddyfile.NewDispenser(tokens), v)
			}
			_, _ = parseGlobalOption(caddyfile.NewDispenser(tokens), httpcaddyfile.App{Name: "ssogate", Value: json.RawMessage(`{"database":{"driver":"sqlite","path":"/x"}}`)})
		}
	})
}

// FuzzDropSessionCookie feeds arbitrary Cookie lines (a client sends
// them) through the rewrite that keeps the session cookie from the app:
// no ssogate_session pair may be left, and every other pair must reach
// the app, in order.
func FuzzDropSessionCookie(f *testing.F) {
	for _, s := range []string{
		"ssogate_session=abc", "a=1; ssogate_session=abc; b=2", "ssogate_session=abc;a=1 ;  b=2",
		";; ssogate_session=abc ;", "xssogate_session=1; ssogate_sessionx=2", "a=1\x00; ssogate_session=;b",
		"ssogate_session", " \t;ssogate_session=1;\tssogate_session=2; c=3",
	} {
		f.Add(s, "b=2")
	}
	pairs := func(lines []string) []string {
		var out []string
		for _, line := range lines {
			for _, p := range strings.Split(line, ";") {
				if p = strings.Trim(p, " \t"); p != "" && !isCookiePair(p, "ssogate_session") {
					out = append(out, p)
				}
			}
		}
		return out
	}
	f.Fuzz(func(t *testing.T, line, second string) {
		in := []string{line, second}
		want := pairs(in)
		hdr := http.Header{"Cookie": slices.Clone(in)}
		dropSessionCookie(hdr)
		got := hdr["Cookie"]
		for _, l := range got {
			if l == "" {
				t.Fatalf("an empty Cookie line is left: %q", got)
			}
		}
		if !slices.Equal(pairs(got), want) {
			t.Fatalf("Cookie %q -> %q: pairs %q, want %q", in, got, pairs(got), want)
		}
		for _, l := range got {
			for _, p := range strings.Split(l, ";") {
				if isCookiePair(strings.Trim(p, " \t"), "ssogate_session") {
					t.Fatalf("session pair left in %q", got)
				}
			}
		}
	})
}
