package demo

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// identityHeaders are the headers the gate sets, in the order shown.
var identityHeaders = []string{
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Name",
	"X-Forwarded-Groups", "X-Forwarded-Role", "X-Forwarded-Org",
}

// newApp is the demo "analytics" app: it knows nothing about SAML or SCIM
// and shows the identity headers the gate sent it.
func newApp(gateURL string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		d := appPage{GateURL: gateURL}
		for _, h := range identityHeaders {
			v, ok := r.Header[h]
			d.Headers = append(d.Headers, header{Name: h, Value: strings.Join(v, ", "), Sent: ok})
		}
		d.Email = r.Header.Get("X-Forwarded-Email")
		d.Name = r.Header.Get("X-Forwarded-Name")
		d.Role = r.Header.Get("X-Forwarded-Role")
		d.Org = r.Header.Get("X-Forwarded-Org")
		// Each team name is percent-encoded, so a comma in one is %2C.
		if g := r.Header.Get("X-Forwarded-Groups"); g != "" {
			for _, t := range strings.Split(g, ",") {
				if t, err := url.PathUnescape(t); err == nil && t != "" {
					d.Teams = append(d.Teams, t)
				}
			}
		}
		d.First, _, _ = strings.Cut(d.Name, " ")
		if d.First == "" {
			d.First = d.Email
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
		_ = appTemplate.Execute(w, d)
	})
	return mux
}

type appPage struct {
	GateURL            string
	Email, Name, First string
	Role, Org          string
	Teams              []string
	Headers            []header
}

type header struct {
	Name, Value string
	Sent        bool
}

// bars are the chart's made-up numbers.
var bars = func() []bar {
	days := []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	users := []int{412, 468, 503, 489, 430, 198, 176}
	out := make([]bar, len(days))
	for i := range days {
		h := users[i] * 90 / 520
		out[i] = bar{Day: days[i], Users: users[i], X: 10 + i*62, Y: 100 - h, Height: h, Mid: 32 + i*62}
	}
	return out
}()

type bar struct {
	Day                      string
	Users, X, Y, Height, Mid int
}

var appTemplate = template.Must(template.New("app").Funcs(template.FuncMap{
	"bars": func() any { return bars },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo Analytics{{if .Email}}: {{.Email}}{{end}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;color:#1b1b1b;background:#f5f6f8}
header{background:#1d2a44;color:#fff;padding:.75rem 1.5rem;display:flex;align-items:center;gap:1rem;flex-wrap:wrap}
header .brand{font-weight:700;font-size:1.1rem;margin-right:auto}
header .who{color:#dfe6f3}
header a{color:#fff;background:#2557d6;padding:.35rem .9rem;border-radius:.35rem;text-decoration:none}
header a:hover{background:#1b44ad}
a:focus{outline:3px solid #f4b400;outline-offset:2px}
main{max-width:50rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.7rem;margin:.5rem 0}
h2{font-size:1.2rem;margin:0 0 .75rem}
.card{background:#fff;border:1px solid #d9dde3;border-radius:.5rem;padding:1.25rem 1.5rem;margin:1.25rem 0}
.lead{color:#333;margin-top:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e6e8ec;vertical-align:top}
th{font-weight:600;white-space:nowrap}
code{font:.92em ui-monospace,"DejaVu Sans Mono",monospace}
td.none{color:#5f6368;font-style:italic}
.teams span{display:inline-block;background:#e8eefc;color:#1d3f99;border-radius:1rem;padding:0 .6rem;margin:0 .3rem .2rem 0}
.note{color:#444;font-size:.92rem}
svg text{font:9px system-ui,sans-serif;fill:#444}
</style></head>
<body>
<header>
<span class="brand">Demo Analytics</span>
{{if .Email}}<span class="who">{{.Name}} · {{.Role}}</span>
<a id="signout" href="/sso/logout">Sign out</a>{{end}}
</header>
<main>
{{if .Email}}
<h1>Hello, {{.First}}</h1>
<p class="lead">You are signed in as <strong id="email">{{.Email}}</strong> in the organization <strong>{{.Org}}</strong>.
This app knows nothing about SAML or SCIM: it learned who you are from the request headers the ssogate gate set.</p>
{{if .Teams}}<p class="teams">Your teams: {{range .Teams}}<span>{{.}}</span>{{end}}</p>{{end}}
{{else}}
<h1>No one is signed in</h1>
<p class="lead">This request reached the app without identity headers: it did not pass through the gate.
Open the app through the gate at <a href="{{.GateURL}}/">{{.GateURL}}/</a>.</p>
{{end}}
<section class="card" aria-labelledby="headers-title">
<h2 id="headers-title">What the gate told the app</h2>
<table>
<thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead>
<tbody>
{{range .Headers}}<tr><th scope="row"><code>{{.Name}}</code></th>{{if .Sent}}<td data-header="{{.Name}}">{{.Value}}</td>{{else}}<td class="none" data-header="{{.Name}}">not sent</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="note">The gate removes these headers from every client request before setting them, so a browser cannot forge them.
The same identity is at <a href="/sso/userinfo">/sso/userinfo</a> as JSON.</p>
</section>
{{if .Email}}
<section class="card" aria-labelledby="chart-title">
<h2 id="chart-title">Weekly active users</h2>
<svg viewBox="0 0 440 118" width="100%" role="img" aria-labelledby="chart-desc">
<desc id="chart-desc">Made-up numbers: {{range $i, $b := bars}}{{if $i}}, {{end}}{{$b.Day}} {{$b.Users}}{{end}}.</desc>
{{range bars}}<rect x="{{.X}}" y="{{.Y}}" width="44" height="{{.Height}}" rx="3" fill="#2557d6"></rect>
<text x="{{.Mid}}" y="115" text-anchor="middle">{{.Day}}</text>
{{end}}</svg>
</section>
{{end}}
</main>
</body></html>
`))
