package caddymodule

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// cliSSOSetFlagsDoc documents the flags of sso set, in its Long text and
// the sso command's.
const cliSSOSetFlagsDoc = `
--idp-sso-url <url>
    sso set: the IdP's Authentication URL (single sign-on URL), where
    people are sent to sign in. https, or http on localhost only.

--idp-issuer <issuer>
    sso set: the IdP's Issuer URL (its entity ID).

--idp-certificate <file>
    sso set: the IdP's Public Certificate: a file holding PEM (one or more
    certificates), base64 DER or DER, or the PEM itself. Repeat the flag
    to trust several at once, as during a rotation; the certificates given
    replace the stored ones. Each must be in date.

--idp-metadata-url <url>
    sso set: where the IdP publishes its SAML metadata, instead of the
    three above. It is fetched now and must describe an identity provider.

--idp-metadata-file <file>
    sso set: the IdP's SAML metadata document, instead of the three above.

--idp-slo-url <url>
    sso set: the IdP's single-logout URL; signing out of the app then
    signs out at the IdP too.

--require-sso true|false
    sso set: members sign in through the IdP only; owners and admins may
    still use the password form. Needs an enabled connection and a
    verified domain, so that nobody is locked out.

--idp-managed-access true|false
    sso set: only members that exist (provisioned over SCIM, or invited)
    and are active may sign in; a first SSO sign-in creates no account.

--allow-idp-initiated true|false
    sso set: accept sign-ins started at the IdP, such as dashboard tiles.
    Default for a new connection: true.

--groups-attribute <name>
    sso set: the assertion attribute whose values are the member's teams,
    set at each sign-in by name (teams are made as needed, and the member
    leaves the org's other teams). Okta: groups (a group attribute
    statement); Entra:
    http://schemas.microsoft.com/ws/2008/06/identity/claims/groups.
    Empty (""): the assertion's groups are ignored. Default: empty.

An empty value ("") clears an IdP setting. Changing the IdP makes a tested
or disabled connection a draft again, to be tested before it is enabled.
Settings the operator set in a Caddyfile cannot be changed here.`

// cliSSOOtherFlagsDoc documents the flags of show, test and enable.
const cliSSOOtherFlagsDoc = `
--json
    sso show: print one JSON object, for scripts, with the certificates'
    PEM and the metadata document.

--wait
    sso test: after printing the URL, wait until the test sign-in ends
    and print what the IdP sent and which rules passed; exit 1 when it
    failed or expired.

--untested
    sso enable: enable a connection that has not passed a test sign-in.`

func cliSSOCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "sso",
		Usage: "show [--json] | set <settings> | test [--wait] | enable [--untested] | disable | keys [roll | retire] [--org <name>] [--db <path>]",
		Short: "Shows and sets up an org's SSO connection",
		Long: `
Manages an org's SSO connection: its IdP (Authentication URL, Issuer URL
and Public Certificates, or the IdP's metadata), its single-logout URL and
the org's sign-in switches. A connection goes from draft (being set up) to
tested (a test sign-in passed) to enabled (signs people in), and may be
disabled again. Changes take effect at every gate within a second, with no
reload.

  sso show                 shows the connection, what to copy into the IdP,
                           and the last test sign-in
  sso set <settings>       changes the settings given as flags, and only those
  sso test                 starts a test sign-in and prints its URL, alone
                           on stdout, to open in a browser
  sso enable               turns the connection on (after a test sign-in)
  sso disable              turns it off; require_sso goes off with it
  sso keys                 lists the org's SP keys (signing, encryption)
  sso keys roll            publishes new SP keys beside the current ones
  sso keys retire          drops the old SP keys; the new ones are current

Flags:
` + cliSSOSetFlagsDoc + "\n" + cliSSOOtherFlagsDoc + "\n" + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					use:   "show [--json] [--org <name>] [--db <path>]",
					short: "Shows the org's SSO connection",
					long: `
Shows the org's SSO connection: its state, the IdP's values (each
certificate as subject, SHA-256 fingerprint and expiry, with a warning from
30 days before it expires), the switches, which of them the operator set
in a Caddyfile, what to copy into the IdP's SAML app, and the outcome of
the last test sign-in.

--json
    Print one JSON object, for scripts, with the certificates' PEM and
    the metadata document.
` + cliCommonFlagsDoc,
					flags: func(fl *pflag.FlagSet) {
						fl.Bool("json", false, "print one JSON object")
					},
					run: cliSSOShow,
				},
				cliLeaf{
					use:   "set [--idp-sso-url <url>] [--idp-issuer <issuer>] [--idp-certificate <file>]... [--idp-metadata-url <url>] [--idp-metadata-file <file>] [--idp-slo-url <url>] [--require-sso true|false] [--idp-managed-access true|false] [--allow-idp-initiated true|false] [--groups-attribute <name>] [--org <name>] [--db <path>]",
					short: "Changes the org's SSO settings",
					long: `
Changes the settings given as flags, and only those. Every value is checked
before anything is written (a metadata URL is fetched first); a bad value
exits with 2 naming its flag, a change the connection's rules refuse exits
with 1 saying why, and in both cases nothing is written.

The IdP is given either as its three values (--idp-sso-url, --idp-issuer,
--idp-certificate) or as its metadata (--idp-metadata-url or
--idp-metadata-file), such as:

    ssogate sso set --org acme --idp-sso-url https://acme.okta.com/app/x/sso/saml \
        --idp-issuer http://www.okta.com/exk123 --idp-certificate okta.pem
` + cliSSOSetFlagsDoc + "\n" + cliCommonFlagsDoc,
					flags: func(fl *pflag.FlagSet) {
						fl.String("idp-sso-url", "", "the IdP's Authentication URL")
						fl.String("idp-issuer", "", "the IdP's Issuer URL")
						fl.StringArray("idp-certificate", nil, "a file with the IdP's certificate (repeatable)")
						fl.String("idp-metadata-url", "", "the IdP's metadata URL")
						fl.String("idp-metadata-file", "", "a file with the IdP's metadata")
						fl.String("idp-slo-url", "", "the IdP's single-logout URL")
						fl.String("require-sso", "", "true or false")
						fl.String("idp-managed-access", "", "true or false")
						fl.String("allow-idp-initiated", "", "true or false")
						fl.String("groups-attribute", "", "the assertion attribute naming the member's teams")
					},
					run: cliSSOSet,
				},
				cliLeaf{
					use:   "test [--wait] [--org <name>] [--db <path>]",
					short: "Starts a test sign-in",
					long: `
Starts a test sign-in of the org's connection as it is now and prints its
URL, alone on stdout. Open it within 15 minutes in a browser that reaches
the gate: it signs in at the IdP and records what the IdP sent and which
sign-in rules passed, without signing anyone in to the app. A passed test
makes a draft connection tested, ready for sso enable; sso show prints the
outcome.

--wait
    After printing the URL, wait until the test sign-in ends and print its
    outcome; exit 1 when it failed or expired.
` + cliCommonFlagsDoc,
					flags: func(fl *pflag.FlagSet) {
						fl.Bool("wait", false, "wait for the outcome and print it")
					},
					run: cliSSOTest,
				},
				cliLeaf{
					use:   "enable [--untested] [--org <name>] [--db <path>]",
					short: "Turns the SSO connection on",
					long: `
Turns the org's connection on: people of the org's verified domains sign
in through its IdP. The connection must have a complete IdP and must have
passed a test sign-in since its IdP last changed (see sso test).

--untested
    Enable a connection that has not passed a test sign-in, for an
    operator who knows the IdP works.
` + cliCommonFlagsDoc,
					flags: func(fl *pflag.FlagSet) {
						fl.Bool("untested", false, "enable without a passed test sign-in")
					},
					run: cliSSOEnable,
				},
				cliLeaf{
					use:   "disable [--org <name>] [--db <path>]",
					short: "Turns the SSO connection off",
					long: `
Turns the org's connection off: sign-ins through the IdP stop and the
sessions they started end. require_sso goes off with it, since nobody
could sign in by SSO any more.
` + cliCommonFlagsDoc,
					run: cliSSODisable,
				},
				cliSSOKeysLeaf(),
			)
		},
	}
}

// cliSSOFlags maps connection fields to the flags of sso set, so that an
// error about a field names what the person typed.
var cliSSOFlags = [][2]string{
	{tenant.FieldIDPSSOURL, "--idp-sso-url"},
	{tenant.FieldIDPIssuer, "--idp-issuer"},
	{tenant.FieldIDPCertificates, "--idp-certificate"},
	{tenant.FieldIDPMetadataURL, "--idp-metadata-url"},
	{tenant.FieldIDPMetadataXML, "--idp-metadata-file"},
	{tenant.FieldIDPSLOURL, "--idp-slo-url"},
	{tenant.FieldRequireSSO, "--require-sso"},
	{tenant.FieldIDPManagedAccess, "--idp-managed-access"},
	{tenant.FieldAllowIDPInitiated, "--allow-idp-initiated"},
	{tenant.FieldGroupsAttribute, "--groups-attribute"},
}

func cliSSOFlagOf(field string) string {
	for _, p := range cliSSOFlags {
		if p[0] == field {
			return p[1]
		}
	}
	return field
}

// cliSSOFlagNames rewrites the field names in tenant's reasons as flags.
var cliSSOFlagNames = func() *strings.Replacer {
	var pairs []string
	for _, p := range cliSSOFlags {
		pairs = append(pairs, p[0], p[1])
	}
	return strings.NewReplacer(pairs...)
}()

// cliSSOConnection returns the org's connection; an org without one has
// the connection ModifyConnection would start from.
func cliSSOConnection(c *cliCall, st storage.Store, org storage.Org) (storage.Connection, error) {
	conn, err := st.Connection(c.ctx, org.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.NewConnection(org.ID), nil
	}
	return conn, err
}

// cliSSOGate returns the base of the org's endpoints: the URL a gate
// recorded, else the default path prefix alone (paths, with known false).
func cliSSOGate(c *cliCall, st storage.Store, org storage.Org) (base string, known bool, err error) {
	u, err := tenant.GateURL(c.ctx, st, org.Name)
	if err != nil {
		return "", false, err
	}
	if u == "" {
		return tenant.DefaultPathPrefix, false, nil
	}
	return u, true, nil
}

// cliSSONext is the next step for a connection, as a sentence, or "".
func cliSSONext(c *cliCall, conn storage.Connection) string {
	if _, err := tenant.IDPMetadata(conn); err != nil {
		return fmt.Sprintf("Next: give the IdP, such as with `%s` (see `%s sso set --help`).",
			c.hint("sso set --idp-metadata-url URL", true), cliBinName())
	}
	switch conn.State {
	case storage.ConnectionDraft:
		return fmt.Sprintf("Next: run a test sign-in with `%s`.", c.hint("sso test", true))
	case storage.ConnectionTested, storage.ConnectionDisabled:
		return fmt.Sprintf("Next: turn it on with `%s`.", c.hint("sso enable", true))
	}
	return ""
}

// cliSSOStateText says what a state means.
func cliSSOStateText(s storage.ConnectionState) string {
	switch s {
	case storage.ConnectionDraft:
		return "draft: being set up; it signs nobody in"
	case storage.ConnectionTested:
		return "tested: a test sign-in passed; it signs nobody in until enabled"
	case storage.ConnectionEnabled:
		return "enabled: it signs people in"
	case storage.ConnectionDisabled:
		return "disabled: it signs nobody in"
	}
	return string(s)
}

func cliSSOShow(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	conn, err := cliSSOConnection(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	gate, gateKnown, err := cliSSOGate(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	last, err := st.LatestSSOTest(c.ctx, org.ID)
	hasTest := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return cliExitFailure, err
	}
	now := time.Now()
	certs := tenant.Certificates(conn, now)
	endpoints := tenant.EndpointsAt(gate, org.Name)
	_, idpErr := tenant.IDPMetadata(conn)

	if c.flags.Bool("json") {
		// The admin API's GET /api/v1/sso, the same shape.
		var lastTest *storage.SSOTest
		if hasTest {
			lastTest = &last
		}
		if !gateKnown {
			gate = ""
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return cliResult(enc.Encode(tenant.Describe(org.Name, conn, gate, lastTest, now)))
	}

	const w = 24
	line := func(indent int, label, value string) {
		c.printf("%s%-*s %s\n", strings.Repeat(" ", indent), w-indent, label, value)
	}
	pinned := func(field, value string) string {
		if conn.IsPinned(field) {
			return value + " (set by the operator)"
		}
		return value
	}
	line(0, "Org:", cliClean(org.Name))
	line(0, "State:", pinned(tenant.FieldState, cliSSOStateText(conn.State)))

	c.printf("IdP:\n")
	ssoURL, issuer := conn.IDPSSOURL, conn.IDPIssuer
	if conn.IDPMetadataXML != "" {
		ssoURL, issuer = "", ""
		if ed, err := tenant.IDPMetadata(conn); err == nil {
			ssoURL, issuer = sso.SSOURL(ed), ed.EntityID
		}
		ssoURL, issuer = cliFromMetadata(ssoURL), cliFromMetadata(issuer)
	}
	line(2, "Authentication URL:", pinned(tenant.FieldIDPSSOURL, cliClean(ssoURL)))
	line(2, "Issuer URL:", pinned(tenant.FieldIDPIssuer, cliClean(issuer)))
	if len(certs) == 0 {
		line(2, "Certificates:", pinned(tenant.FieldIDPCertificates, "-"))
	}
	for i, ci := range certs {
		label := "Certificate:"
		if len(certs) > 1 {
			label = fmt.Sprintf("Certificate %d:", i+1)
		}
		line(2, label, pinned(tenant.FieldIDPCertificates, cliClean(ci.Subject)))
		line(2, "", "SHA-256 "+ci.Fingerprint)
		line(2, "", "expires "+ci.NotAfter.Format("2006-01-02 15:04 UTC"))
		switch {
		case ci.Expired:
			line(2, "", "warning: EXPIRED; every sign-in fails: give the IdP's current certificate with --idp-certificate")
		case ci.ExpiresSoon:
			days := int(ci.NotAfter.Sub(now).Hours() / 24)
			line(2, "", fmt.Sprintf("warning: expires in %d days; add the IdP's next certificate beside it (repeat --idp-certificate)", days))
		}
	}
	line(2, "Metadata URL:", pinned(tenant.FieldIDPMetadataURL, cliClean(conn.IDPMetadataURL)))
	md := "-"
	if conn.IDPMetadataXML != "" {
		md = fmt.Sprintf("%d bytes", len(conn.IDPMetadataXML))
		if conn.IDPMetadataURL != "" {
			md += ", fetched from the metadata URL"
		}
	}
	line(2, "Metadata document:", pinned(tenant.FieldIDPMetadataXML, md))
	line(2, "Single logout URL:", pinned(tenant.FieldIDPSLOURL, cliClean(conn.IDPSLOURL)))
	if idpErr != nil && conn.IDPMetadataXML+conn.IDPSSOURL+conn.IDPIssuer+conn.IDPCertificates != "" {
		line(2, "Problem:", cliClean(idpErr.Error()))
	}

	c.printf("Switches:\n")
	line(2, "require_sso:", pinned(tenant.FieldRequireSSO, cliYesNo(conn.RequireSSO)))
	line(2, "idp_managed_access:", pinned(tenant.FieldIDPManagedAccess, cliYesNo(conn.IDPManagedAccess)))
	line(2, "allow_idp_initiated:", pinned(tenant.FieldAllowIDPInitiated, cliYesNo(conn.AllowIDPInitiated)))
	groups := "- (the assertion's groups are ignored)"
	if conn.GroupsAttribute != "" {
		groups = cliClean(conn.GroupsAttribute) + " (sets the member's teams at each sign-in)"
	}
	line(2, "groups_attribute:", pinned(tenant.FieldGroupsAttribute, groups))

	c.printf("Copy into the IdP's SAML app:\n")
	if !gateKnown {
		c.printf("  (paths under the gate's base_url, with the default path_prefix %s: no gate has recorded its URL for this org yet)\n", tenant.DefaultPathPrefix)
	}
	line(2, "Single sign-on URL:", endpoints.ACSURL+"  (ACS, postback URL)")
	line(2, "Audience URI:", endpoints.EntityID+"  (SP entity ID)")
	line(2, "SP metadata:", endpoints.MetadataURL)
	line(2, "Single logout URL:", endpoints.LogoutURL)
	line(2, "Name ID format:", "EmailAddress")
	for i, a := range tenant.AttributeStatements {
		label := ""
		if i == 0 {
			label = "Attribute statements:"
		}
		line(2, label, a.Name+" = "+a.Value)
	}

	if !hasTest {
		line(0, "Last test sign-in:", "none")
	} else {
		cliSSOPrintTest(c, last, line)
	}
	if next := cliSSONext(c, conn); next != "" {
		c.notef("%s\n", next)
	}
	return cliExitOK, nil
}

func cliFromMetadata(v string) string {
	if v == "" {
		return ""
	}
	return v + " (from the metadata)"
}

// cliSSOPrintTest prints a finished test sign-in: what the IdP sent and
// each rule's result.
func cliSSOPrintTest(c *cliCall, t storage.SSOTest, line func(int, string, string)) {
	var o tenant.TestOutcome
	_ = json.Unmarshal(t.Outcome, &o) // an unreadable outcome shows as empty
	result := "failed"
	if t.OK {
		result = "passed"
	}
	line(0, "Last test sign-in:", result+", "+cliTime(t.FinishedAt))
	if o.Error != "" {
		line(2, "Error:", cliClean(o.Error))
	}
	if o.Fix != "" {
		line(2, "Fix:", cliClean(o.Fix))
	}
	for _, f := range [][2]string{
		{"Issuer:", o.Issuer},
		{"Name ID:", strings.TrimSpace(o.NameID + " " + cliParen(o.NameIDFormat))},
		{"Email:", o.Email},
		{"First name:", o.GivenName},
		{"Last name:", o.FamilyName},
	} {
		if f[1] != "" {
			line(2, f[0], cliClean(f[1]))
		}
	}
	names := make([]string, 0, len(o.Attributes))
	for n := range o.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		label := ""
		if i == 0 {
			label = "Attributes:"
		}
		line(2, label, cliClean(n)+" = "+cliClean(strings.Join(o.Attributes[n], ", ")))
	}
	for i, r := range o.Rules {
		label := ""
		if i == 0 {
			label = "Rules:"
		}
		mark := "pass"
		if !r.Passed {
			mark = "FAIL"
		}
		line(2, label, mark+"  "+cliClean(r.Name)+": "+cliClean(r.Detail))
		if r.Fix != "" {
			line(2, "", "      fix: "+cliClean(r.Fix))
		}
	}
}

func cliParen(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// cliSSOBool parses the value of a true|false flag.
func cliSSOBool(fl caddycmd.Flags, name string) (*bool, error) {
	if !fl.Changed(name) {
		return nil, nil
	}
	v := strings.ToLower(strings.TrimSpace(fl.String(name)))
	switch v {
	case "yes", "on":
		v = "true"
	case "no", "off":
		v = "false"
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("--%s takes true or false, not %q", name, fl.String(name))
	}
	return &b, nil
}

// cliSSOString returns a string flag's value when it was given.
func cliSSOString(fl caddycmd.Flags, name string) *string {
	if !fl.Changed(name) {
		return nil
	}
	v := fl.String(name)
	return &v
}

// cliReadInput reads a file given to a flag, at most one byte more than
// tenant accepts, so that tenant says what is too large.
func cliReadInput(flag, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %v", flag, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, tenant.MaxMetadataSize+1))
	if err != nil {
		return "", fmt.Errorf("%s: reading %s: %v", flag, path, err)
	}
	return string(data), nil
}

// cliCertificateInput returns what --idp-certificate names as tenant
// takes it: PEM given inline as is, a file's content, DER as base64.
func cliCertificateInput(v string) (string, error) {
	if strings.TrimSpace(v) == "" || strings.Contains(v, "-----BEGIN") {
		return v, nil
	}
	data, err := cliReadInput("--idp-certificate", v)
	if err != nil {
		return "", err
	}
	if cert, err := x509.ParseCertificate([]byte(data)); err == nil {
		return base64.StdEncoding.EncodeToString(cert.Raw), nil
	}
	return data, nil
}

// cliSSOSettings reads sso set's flags: nil fields for flags not given.
func cliSSOSettings(fl caddycmd.Flags) (tenant.Settings, int, error) {
	var in tenant.Settings
	in.IDPSSOURL = cliSSOString(fl, "idp-sso-url")
	in.IDPIssuer = cliSSOString(fl, "idp-issuer")
	in.IDPMetadataURL = cliSSOString(fl, "idp-metadata-url")
	in.IDPSLOURL = cliSSOString(fl, "idp-slo-url")
	in.GroupsAttribute = cliSSOString(fl, "groups-attribute")
	if fl.Changed("idp-certificate") {
		values, err := fl.GetStringArray("idp-certificate")
		if err != nil {
			return in, cliExitUsage, err
		}
		certs := make([]string, 0, len(values))
		for _, v := range values {
			cert, err := cliCertificateInput(v)
			if err != nil {
				return in, cliExitUsage, err
			}
			certs = append(certs, cert)
		}
		in.IDPCertificates = &certs
	}
	if p := cliSSOString(fl, "idp-metadata-file"); p != nil {
		doc := ""
		if strings.TrimSpace(*p) != "" {
			var err error
			if doc, err = cliReadInput("--idp-metadata-file", *p); err != nil {
				return in, cliExitUsage, err
			}
		}
		in.IDPMetadataXML = &doc
	}
	for _, b := range []struct {
		flag string
		dst  **bool
	}{
		{"require-sso", &in.RequireSSO},
		{"idp-managed-access", &in.IDPManagedAccess},
		{"allow-idp-initiated", &in.AllowIDPInitiated},
	} {
		v, err := cliSSOBool(fl, b.flag)
		if err != nil {
			return in, cliExitUsage, err
		}
		*b.dst = v
	}
	return in, cliExitOK, nil
}

// cliSSOSetError turns what Prepare and Apply refuse into an exit code
// and a message that names flags rather than fields.
func cliSSOSetError(err error) (int, error) {
	var fe *tenant.FieldError
	var re *tenant.RuleError
	switch {
	case errors.As(err, &fe):
		return cliExitUsage, fmt.Errorf("%s: %s", cliSSOFlagOf(fe.Field), cliSSOFlagNames.Replace(fe.Reason))
	case errors.As(err, &re):
		return cliExitFailure, errors.New(cliSSOFlagNames.Replace(re.Reason))
	}
	return cliExitFailure, err
}

func cliSSOSet(c *cliCall) (int, error) {
	given := false
	for _, p := range cliSSOFlags {
		given = given || c.flags.Changed(strings.TrimPrefix(p[1], "--"))
	}
	if !given {
		flags := make([]string, len(cliSSOFlags))
		for i, p := range cliSSOFlags {
			flags[i] = p[1]
		}
		return cliExitUsage, fmt.Errorf("`%s` needs at least one setting to change: %s (see `%s --help`)",
			cliCommandPath(c.cmd), strings.Join(flags, ", "), cliCommandPath(c.cmd))
	}
	in, code, err := cliSSOSettings(c.flags)
	if err != nil {
		return code, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	// Read for the report: which fields changed, and whether any did.
	before, err := cliSSOConnection(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	conn, err := c.admin(st).UpdateSSO(c.ctx, org, orgadmin.Operator, in)
	if err != nil {
		return cliSSOSetError(err)
	}
	if conn.Version == before.Version {
		c.printf("The SSO connection of org %s is as given already; nothing changed.\n", cliClean(org.Name))
		return cliExitOK, nil
	}
	c.printf("Updated the SSO connection of org %s: %s.\n", cliClean(org.Name), strings.Join(cliSSOChanged(before, conn), ", "))
	c.printf("State: %s.\n", cliSSOStateText(conn.State))
	if before.State != conn.State && conn.State == storage.ConnectionDraft {
		c.notef("The IdP changed, so the connection needs a new test sign-in before it is enabled.\n")
	}
	if next := cliSSONext(c, conn); next != "" {
		c.notef("%s\n", next)
	}
	return cliExitOK, nil
}

// cliSSOChanged names the fields that differ between a and b.
func cliSSOChanged(a, b storage.Connection) []string {
	var out []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{tenant.FieldIDPSSOURL, a.IDPSSOURL != b.IDPSSOURL},
		{tenant.FieldIDPIssuer, a.IDPIssuer != b.IDPIssuer},
		{tenant.FieldIDPCertificates, a.IDPCertificates != b.IDPCertificates},
		{tenant.FieldIDPMetadataURL, a.IDPMetadataURL != b.IDPMetadataURL},
		{tenant.FieldIDPMetadataXML, a.IDPMetadataXML != b.IDPMetadataXML},
		{tenant.FieldIDPSLOURL, a.IDPSLOURL != b.IDPSLOURL},
		{tenant.FieldRequireSSO, a.RequireSSO != b.RequireSSO},
		{tenant.FieldIDPManagedAccess, a.IDPManagedAccess != b.IDPManagedAccess},
		{tenant.FieldAllowIDPInitiated, a.AllowIDPInitiated != b.AllowIDPInitiated},
		{tenant.FieldGroupsAttribute, a.GroupsAttribute != b.GroupsAttribute},
		{tenant.FieldState, a.State != b.State},
	} {
		if f.changed {
			out = append(out, f.name)
		}
	}
	return out
}

func cliSSOEnable(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	before, err := cliSSOConnection(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	// The operator keeps the power to enable an untested connection.
	admin := c.admin(st)
	conn, err := admin.EnableSSO(c.ctx, org, orgadmin.Operator, c.flags.Bool("untested"))
	var re *tenant.RuleError
	switch {
	case errors.Is(err, tenant.ErrNotTested):
		return cliExitFailure, fmt.Errorf(
			"the connection has not passed a test sign-in since its IdP settings changed: run a test sign-in first: `%s` (or enable it anyway with --untested)",
			c.hint("sso test", true))
	case errors.As(err, &re):
		if _, mdErr := tenant.IDPMetadata(before); mdErr != nil {
			return cliExitFailure, fmt.Errorf("%s; set it with `%s`", re.Reason, c.hint("sso set", true))
		}
		return cliExitFailure, errors.New(re.Reason)
	case err != nil:
		return cliExitFailure, err
	case conn.Version == before.Version:
		c.printf("SSO is already enabled for org %s.\n", cliClean(org.Name))
		return cliExitOK, nil
	}
	c.printf("Enabled SSO for org %s: its people sign in through the IdP.\n", cliClean(org.Name))
	if before.State == storage.ConnectionDraft {
		c.notef("Enabled without a passed test sign-in (--untested); if sign-ins fail, run `%s`.\n", c.hint("sso test", true))
	}
	if ok, err := admin.HasVerifiedDomain(c.ctx, org); err == nil && !ok {
		c.notef("Note: org %s has no verified domain yet, so nobody can sign in by SSO; claim one with `%s`.\n",
			cliClean(org.Name), c.hint("domain claim DOMAIN", true))
	}
	return cliExitOK, nil
}

func cliSSODisable(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	before, err := cliSSOConnection(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	conn, cleared, err := c.admin(st).DisableSSO(c.ctx, org, orgadmin.Operator)
	var re *tenant.RuleError
	switch {
	case errors.As(err, &re):
		return cliExitFailure, errors.New(re.Reason)
	case err != nil:
		return cliExitFailure, err
	case conn.Version == before.Version:
		c.printf("SSO is already disabled for org %s (the connection is %s).\n", cliClean(org.Name), conn.State)
		return cliExitOK, nil
	}
	c.printf("Disabled SSO for org %s: sign-ins through the IdP stop, and the sessions they started have ended.\n", cliClean(org.Name))
	if cleared {
		c.printf("require_sso was turned off with it: members with a password may use the password form again.\n")
	}
	return cliExitOK, nil
}

// cliSSOPoll is how often sso test --wait looks at the test.
const cliSSOPoll = time.Second

func cliSSOTest(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	conn, err := cliSSOConnection(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	if _, err := tenant.IDPMetadata(conn); err != nil {
		return cliExitFailure, fmt.Errorf("org %s has no IdP to test: %v; set it with `%s`",
			org.Name, err, c.hint("sso set", true))
	}
	started, err := c.admin(st).StartTest(c.ctx, org, orgadmin.Operator)
	var re *tenant.RuleError
	if errors.As(err, &re) {
		return cliExitFailure, fmt.Errorf("%s; set it with `%s`", re.Reason, c.hint("sso set", true))
	}
	if err != nil {
		return cliExitFailure, err
	}
	id := started.Test.ID
	c.notef("Open this URL in a browser that reaches the gate, within %d minutes (until %s); it signs in at the IdP and records what came back, without signing anyone in to the app.\n",
		int(tenant.TestLifetime/time.Minute), cliTime(started.Test.ExpiresAt))
	if started.Note != "" {
		c.notef("No gate has recorded its URL for org %s yet, so this is a path: put the gate's origin in front (such as https://app.example.com); it assumes the default path_prefix %s.\n",
			cliClean(org.Name), tenant.DefaultPathPrefix)
	}
	c.printf("%s\n", started.URL)
	if !c.flags.Bool("wait") {
		c.notef("Then see the outcome with `%s`.\n", c.hint("sso show", true))
		return cliExitOK, nil
	}
	return cliSSOWait(c, st, org, id, cliSSOPoll)
}

// cliSSOWait looks at the test every poll until it finishes or expires,
// then prints its outcome.
func cliSSOWait(c *cliCall, st storage.Store, org storage.Org, id string, poll time.Duration) (int, error) {
	c.notef("Waiting for the test sign-in to finish (Ctrl-C stops waiting; the test goes on)...\n")
	for {
		t, err := st.SSOTest(c.ctx, org.ID, id)
		if err != nil {
			return cliExitFailure, err
		}
		if !t.FinishedAt.IsZero() {
			const w = 24
			cliSSOPrintTest(c, t, func(indent int, label, value string) {
				c.printf("%s%-*s %s\n", strings.Repeat(" ", indent), w-indent, label, value)
			})
			if !t.OK {
				return cliExitFailure, errors.New("the test sign-in failed; fix what the rules above say and run another")
			}
			if conn, err := cliSSOConnection(c, st, org); err == nil {
				if next := cliSSONext(c, conn); next != "" {
					c.notef("%s\n", next)
				}
			}
			return cliExitOK, nil
		}
		if !time.Now().Before(t.ExpiresAt) {
			return cliExitFailure, fmt.Errorf("the test sign-in expired at %s without an answer from the IdP; start another with `%s`",
				cliTime(t.ExpiresAt), c.hint("sso test", true))
		}
		select {
		case <-c.ctx.Done():
			return cliExitFailure, c.ctx.Err()
		case <-time.After(poll):
		}
	}
}
