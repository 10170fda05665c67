package ssptest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// Page is where a browser ended up at the IdP.
type Page struct {
	URL    string // the last URL requested at the IdP
	Status int
	Body   string
	// Location is where the IdP sent the browser away from itself with a
	// redirect (an HTTP-Redirect binding message, a RelayState), or "".
	Location string
}

// Form is an HTML form: the IdP's auto-submitting form of the HTTP-POST
// binding (SAMLResponse or SAMLRequest, RelayState), or its login form.
type Form struct {
	Action string // resolved against the page's URL
	Method string
	Values url.Values
}

// Visit is a browser navigation to rawURL with c (its cookie jar holds the
// IdP session; its own redirect policy is not used): it follows the
// IdP's redirects to itself and stops at a page or at a redirect away
// from the IdP. A method other than GET sends form.
func (idp *IdP) Visit(c *http.Client, method, rawURL string, form url.Values) (*Page, error) {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	origin := strings.TrimSuffix(idp.baseURL, "/")
	for hop := 0; hop < 20; hop++ {
		var body io.Reader
		if method != http.MethodGet {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, rawURL, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		if method != http.MethodGet {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := cc.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		p := &Page{URL: rawURL, Status: resp.StatusCode, Body: string(b)}
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			return p, nil
		}
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %d without a Location", method, rawURL, resp.StatusCode)
		}
		if loc.Scheme+"://"+loc.Host != origin {
			p.Location = loc.String()
			return p, nil
		}
		method, rawURL, form = http.MethodGet, loc.String(), nil
	}
	return nil, fmt.Errorf("more than 20 redirects from %s", rawURL)
}

// IsLogin says whether the page is SimpleSAMLphp's username and password
// form (core/loginuserpass.php).
func (p *Page) IsLogin() bool {
	f, err := p.form()
	return err == nil && f.Values.Has("AuthState") && f.Values.Has("password")
}

// Form returns the page's auto-submitting SAML form (SAMLResponse or
// SAMLRequest), or an error with what the page says instead.
func (p *Page) Form() (*Form, error) {
	if p.Location != "" {
		return nil, fmt.Errorf("the IdP redirected to %s, not a form", p.Location)
	}
	f, err := p.form()
	if err == nil && (f.Values.Get("SAMLResponse") != "" || f.Values.Get("SAMLRequest") != "") {
		return f, nil
	}
	return nil, fmt.Errorf("no SAML form at %s (%d): %s", p.URL, p.Status, p.Message())
}

// Message is what the page says: the exception of an error page, else
// its text.
func (p *Page) Message() string {
	if msg := p.Exception(); msg != "" {
		return "SimpleSAMLphp says " + strconv.Quote(msg)
	}
	return p.Text()
}

var causeRE = regexp.MustCompile(`Caused by: (.*?) Backtrace:`)

// Exception is the exception an error page of SimpleSAMLphp reports (its
// "Caused by:" line, such as "SimpleSAML\Error\Exception: Missing
// certificate in metadata for '…'"), or "".
func (p *Page) Exception() string {
	if m := causeRE.FindStringSubmatch(p.Text()); m != nil {
		return m[1]
	}
	return ""
}

// Text is the page's visible text, whitespace collapsed, cut at 2000
// bytes: for messages.
func (p *Page) Text() string {
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		return p.Body
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "head") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	s := strings.Join(strings.Fields(b.String()), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// form returns the page's first form with its named inputs' values.
func (p *Page) form() (*Form, error) {
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		return nil, err
	}
	var f *Form
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch {
			case n.Data == "form" && f == nil:
				f = &Form{Action: attrs["action"], Method: strings.ToUpper(attrs["method"]), Values: url.Values{}}
			case n.Data == "input" && f != nil && attrs["name"] != "":
				f.Values.Set(attrs["name"], attrs["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if f == nil {
		return nil, fmt.Errorf("no form at %s", p.URL)
	}
	base, err := url.Parse(p.URL)
	if err != nil {
		return nil, err
	}
	action, err := base.Parse(f.Action)
	if err != nil {
		return nil, err
	}
	f.Action = action.String()
	if f.Method == "" {
		f.Method = http.MethodGet
	}
	return f, nil
}

// SubmitLogin fills in the login page p (where Visit left a browser) with
// username and password, posts it with its AuthState, and returns the
// auto-submitting form that carries the SAMLResponse (and RelayState) to
// the SP. Refused credentials, or an IdP error instead of the form, are an
// error that quotes the page.
func (idp *IdP) SubmitLogin(c *http.Client, p *Page, username, password string) (*Form, error) {
	if !p.IsLogin() {
		return nil, fmt.Errorf("not SimpleSAMLphp's login page: %s (%d): %s", p.URL, p.Status, p.Message())
	}
	login, _ := p.form()
	login.Values.Set("username", username)
	login.Values.Set("password", password)
	next, err := idp.Visit(c, http.MethodPost, login.Action, login.Values)
	if err != nil {
		return nil, err
	}
	if next.IsLogin() {
		return nil, fmt.Errorf("the IdP refused %s's password: %s", username, next.Text())
	}
	return next.Form()
}

// SignIn visits rawURL (an SP's redirect to the IdP with an AuthnRequest,
// or IdPInitiatedURL), signs in with username and password when the IdP
// asks (not when the browser has an IdP session already) and returns the
// form that posts the SAMLResponse to the SP.
func (idp *IdP) SignIn(c *http.Client, rawURL, username, password string) (*Form, error) {
	p, err := idp.Visit(c, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if p.IsLogin() {
		return idp.SubmitLogin(c, p, username, password)
	}
	return p.Form()
}
