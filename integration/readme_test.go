package integration

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var caddyfileBlock = regexp.MustCompile("(?s)```caddyfile\n(.*?)```")

// TestREADMESnippetsAdapt adapts every ```caddyfile block of the README
// and Caddyfile.example, so the documentation cannot drift from the
// syntax. A block that is only global options gets a site to go with it;
// certificate paths point at a test certificate.
func TestREADMESnippetsAdapt(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := caddyfileBlock.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d caddyfile blocks in README.md; the guide has more", len(blocks))
	}
	example, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	snippets := map[string]string{"Caddyfile.example": string(example)}
	for i, b := range blocks {
		snippets["README block "+string(rune('1'+i))] = b[1]
	}
	certs := regexp.MustCompile(`/etc/ssogate/[a-z0-9-]+\.pem`)
	for name, s := range snippets {
		t.Run(name, func(t *testing.T) {
			cfg := certs.ReplaceAllString(s, "testdata/idp.pem")
			if strings.HasPrefix(strings.TrimSpace(stripComments(cfg)), "{") && !strings.Contains(cfg, "saml_sso") && !strings.Contains(cfg, "scim_server") {
				cfg += "\nexample.com {\n\trespond ok\n}\n"
			}
			js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
			if err != nil {
				t.Fatalf("does not adapt: %v\n%s", err, s)
			}
			for _, dir := range []string{"saml_sso", "scim_server"} {
				if strings.Contains(stripComments(s), dir) && !strings.Contains(string(js), `"handler":"`+dir+`"`) {
					t.Errorf("%s in the snippet but not in the adapted JSON", dir)
				}
			}
		})
	}
}

func stripComments(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
