package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// Without base_url the gate builds its SAML URLs (ACS, logout, metadata)
// on the request's Host, which the client chooses. So only the hosts the
// site serves are trusted: trusted_hosts, filled from the site's
// addresses by the Caddyfile. The SP's entity ID, the audience every
// assertion must name, is built on the first of them whatever the Host,
// so that a site served on several names is one service provider.

// trustedHost is a host the gate may build its URLs on, and those origins.
type trustedHost struct {
	name        string // host[:port], lower case, without a port of 80 or 443
	http, https *url.URL
}

// trustedHosts are a gate's hosts, in the order given; the first is the
// one the entity ID is built on.
type trustedHosts []trustedHost

func newTrustedHosts(names []string) (trustedHosts, error) {
	var hosts trustedHosts
	for _, raw := range names {
		name, err := parseTrustedHost(raw)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(hosts, func(t trustedHost) bool { return t.name == name }) {
			continue
		}
		hosts = append(hosts, trustedHost{name: name,
			http: &url.URL{Scheme: "http", Host: name}, https: &url.URL{Scheme: "https", Host: name}})
	}
	return hosts, nil
}

// lookup returns the origin of the request when its Host is trusted, else
// the origin on the first trusted host, and whether it was trusted. It
// does not allocate.
func (hosts trustedHosts) lookup(r *http.Request) (*url.URL, bool) {
	https := r.TLS != nil
	host := r.Host
	if https {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	for _, t := range hosts {
		if strings.EqualFold(host, t.name) {
			return t.origin(https), true
		}
	}
	if len(hosts) == 0 {
		return nil, false
	}
	return hosts[0].origin(https), false
}

func (t trustedHost) origin(https bool) *url.URL {
	if https {
		return t.https
	}
	return t.http
}

// parseTrustedHost checks a trusted_hosts entry, host or host:port, and
// returns it in the form a Host header is compared with.
func parseTrustedHost(raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", errors.New("an empty host")
	case strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@"):
		return "", fmt.Errorf("%q is not a host: give host names such as app.example.com or app.example.com:8443", raw)
	case strings.Contains(s, "*"):
		return "", fmt.Errorf("%q: a wildcard would trust the names of other apps too; list each host", raw)
	case strings.ContainsAny(s, "{} \t\\\"'"):
		return "", fmt.Errorf("%q is not a host name", raw)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: bad port", raw)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host name", raw)
	}
	if port == "" || port == "80" || port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]", nil
		}
		return host, nil
	}
	return net.JoinHostPort(host, port), nil
}

// siteHosts returns the hosts of the site block a saml_sso directive is
// in, each with the port it is served on, for trusted_hosts. A site that
// answers any host name (":8080"), a wildcard or a placeholder is an
// error: the gate needs base_url or trusted_hosts there.
func siteHosts(h httpcaddyfile.Helper) ([]string, error) {
	keys, ok := siteAddresses(h)
	if !ok {
		return nil, errors.New("the site's address is not known here (a named route?): " + hostFix)
	}
	httpPort, httpsPort := "80", "443"
	if p, ok := h.Option("http_port").(int); ok {
		httpPort = strconv.Itoa(p)
	}
	if p, ok := h.Option("https_port").(int); ok {
		httpsPort = strconv.Itoa(p)
	}
	var hosts []string
	for _, key := range keys {
		a, err := httpcaddyfile.ParseAddress(key)
		if err != nil {
			return nil, fmt.Errorf("site address %q: %v", key, err)
		}
		switch {
		case a.Host == "":
			return nil, fmt.Errorf("the site %s answers any host name: %s", key, hostFix)
		case strings.Contains(a.Host, "*"):
			return nil, fmt.Errorf("the site %s answers every name it matches, other apps' too: %s", key, hostFix)
		case strings.ContainsAny(a.Host, "{}"):
			return nil, fmt.Errorf("the site %s takes its host from a placeholder: %s", key, hostFix)
		}
		port := a.Port
		if port == "" {
			port = httpsPort
			if a.Scheme == "http" {
				port = httpPort
			}
		}
		host, err := parseTrustedHost(net.JoinHostPort(a.Host, port))
		if err != nil {
			return nil, fmt.Errorf("site address %q: %v", key, err)
		}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	return hosts, nil
}

// hostFix is how an operator gives a gate its hosts.
const hostFix = "without base_url the gate would build its SAML URLs on the Host header the client sends; " +
	"set base_url <origin>, or trusted_hosts <host...> with the names the app is reached at"

// siteAddresses returns the addresses of the site block a directive is
// in. httpcaddyfile gives a directive no exported way to them (the
// Helper's block is unexported), so they are read by reflection; ok is
// false when that fails, and the gate then asks for base_url or
// trusted_hosts. The adapt goldens notice a Caddy that changed it.
func siteAddresses(h httpcaddyfile.Helper) (keys []string, ok bool) {
	if h.IsNamedRoute() {
		return nil, false
	}
	block := reflect.ValueOf(h).FieldByName("parentBlock")
	if block.Kind() != reflect.Struct {
		return nil, false
	}
	tokens := block.FieldByName("Keys")
	if tokens.Kind() != reflect.Slice {
		return nil, false
	}
	for i := range tokens.Len() {
		tok := tokens.Index(i)
		if tok.Kind() != reflect.Struct {
			return nil, false
		}
		text := tok.FieldByName("Text")
		if text.Kind() != reflect.String {
			return nil, false
		}
		keys = append(keys, text.String())
	}
	return keys, len(keys) > 0
}
