package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/ssogate/ssogate/internal/gate"
)

// browser is an HTTP client with a cookie jar that shows each redirect
// instead of following it, as the end-to-end tests' browser.
type browser struct {
	c *http.Client
}

func newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

func (b *browser) do(method, rawURL string, body io.Reader, hdr map[string]string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return nil, "", err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(data), err
}

func (b *browser) navigate(rawURL string) (*http.Response, string, error) {
	return b.do(http.MethodGet, rawURL, nil, map[string]string{"Accept": "text/html,application/xhtml+xml"})
}

// login walks a real SP-initiated sign-in as email, the way a browser
// does: the app's page without a session redirects to the gate's login
// page, its "Continue with SSO" link to the IdP with an AuthnRequest, the
// IdP (where the browser is signed in as email) answers with the
// auto-posting form, and the form's POST to the ACS sets the session
// cookie. It returns that cookie's value.
func login(gateURL, idpURL, email string) (string, error) {
	b := newBrowser()
	iu, _ := url.Parse(idpURL)
	b.c.Jar.SetCookies(iu, []*http.Cookie{{Name: "testidp_user", Value: email, Path: "/"}})

	resp, _, err := b.navigate(gateURL + "/")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("GET / without a session = %d, want 302", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(loc.Path, "/sso/login") {
		resp, page, err := b.navigate(loc.String())
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("login page = %d", resp.StatusCode)
		}
		href := findAttr(page, "a", "id", "sso", "href")
		if href == "" {
			return "", fmt.Errorf("no Continue with SSO link on the login page:\n%s", page)
		}
		u, err := loc.Parse(href)
		if err != nil {
			return "", err
		}
		resp, _, err = b.navigate(u.String())
		if err != nil {
			return "", err
		}
		if loc, err = resp.Location(); err != nil {
			return "", fmt.Errorf("Continue with SSO = %d without a Location", resp.StatusCode)
		}
	}
	if !strings.HasPrefix(loc.String(), idpURL+"/sso?") {
		return "", fmt.Errorf("login went to %s, want the IdP", loc)
	}
	resp, page, err := b.navigate(loc.String())
	if err != nil {
		return "", err
	}
	action, form := samlForm(page)
	if resp.StatusCode != http.StatusOK || action == "" || form.Get("SAMLResponse") == "" {
		return "", fmt.Errorf("IdP answered %d without a SAML form:\n%s", resp.StatusCode, page)
	}
	resp, page, err = b.do(http.MethodPost, action, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("ACS = %d, want 303:\n%s", resp.StatusCode, page)
	}
	gu, _ := url.Parse(gateURL)
	for _, c := range b.c.Jar.Cookies(gu) {
		if c.Name == gate.CookieName {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("the ACS set no %s cookie", gate.CookieName)
}

// findAttr returns attribute want of the first element tag whose attribute
// key is val.
func findAttr(page, tag, key, val, want string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return ""
	}
	var out string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if out != "" {
			return
		}
		if n.Type == html.ElementNode && n.Data == tag && attr(n, key) == val {
			out = attr(n, want)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// samlForm returns the action and the inputs of the IdP's POST form.
func samlForm(page string) (string, url.Values) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return "", nil
	}
	action, vals := "", url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				action = attr(n, "action")
			case "input":
				if name := attr(n, "name"); name != "" {
					vals.Set(name, attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return action, vals
}

// status GETs rawURL as an API client (no text/html) with the session
// cookie and returns the status code.
func status(c *http.Client, rawURL, cookie string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Cookie", gate.CookieName+"="+cookie)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
