package ssptest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// SP is a service provider the IdP signs in to, from its SAML metadata
// and the options SimpleSAMLphp keeps per SP.
type SP struct {
	// MetadataURL is fetched once, when AddSP is called; or give
	// MetadataXML.
	MetadataURL string
	MetadataXML []byte
	// EncryptAssertion (assertion.encryption) encrypts the assertion to
	// the SP's first encryption certificate in its metadata (or its
	// signing one, when it lists a certificate without a use); the IdP
	// fails the sign-in when the SP has none.
	EncryptAssertion bool
	// ValidateAuthnRequest (validate.authnrequest) refuses AuthnRequests
	// not signed with a signing key in the SP's metadata.
	ValidateAuthnRequest bool
	// ValidateLogout (validate.logout) refuses LogoutRequests and
	// LogoutResponses not signed with a signing key in the SP's metadata.
	ValidateLogout bool
	// SignLogout (sign.logout) signs the LogoutRequests and
	// LogoutResponses the IdP sends this SP; SimpleSAMLphp's default is
	// not to.
	SignLogout bool
	// Extra are more saml20-sp-remote keys for this SP (such as
	// "saml20.sign.response" => false, "NameIDFormat").
	Extra map[string]any
}

// convertSP reads SAML metadata on stdin and writes what SimpleSAMLphp's
// own XML-to-metadata converter (admin/metadata-converter.php) makes of
// each SP in it: a saml20-sp-remote.php entry.
const convertSP = `<?php
require %s;
$xml = trim(stream_get_contents(STDIN));
\SimpleSAML\Utils\XML::checkSAMLMessage($xml, 'saml-meta');
$n = 0;
foreach (\SimpleSAML\Metadata\SAMLParser::parseDescriptorsString($xml) as $entityId => $entity) {
    $md = $entity->getMetadata20SP();
    if ($md === null) {
        continue;
    }
    unset($md['entityDescriptor']);
    echo '$metadata[' . var_export($entityId, true) . '] = ' .
        \Symfony\Component\VarExporter\VarExporter::export($md) . ";\n";
    $n++;
}
if ($n === 0) {
    fwrite(STDERR, "no SPSSODescriptor in the metadata\n");
    exit(1);
}
`

// AddSP adds a service provider to the IdP's saml20-sp-remote metadata,
// converted from its SAML metadata by SimpleSAMLphp's own parser (which,
// like the admin's converter, keeps the ACS and SLO endpoints, the
// certificates by use, the NameID formats and validUntil as "expire"),
// with sp's options added. It returns the SP's entity ID. The IdP reads
// its metadata on every request: an SP added after Start is known at
// once.
func (idp *IdP) AddSP(t testing.TB, sp SP) string {
	t.Helper()
	doc := sp.MetadataXML
	if sp.MetadataURL != "" {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(sp.MetadataURL)
		if err != nil {
			t.Fatalf("fetching SP metadata: %v", err)
		}
		doc, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("SP metadata %s = %d, %v:\n%s", sp.MetadataURL, resp.StatusCode, err, doc)
		}
	}
	var root struct {
		XMLName  xml.Name
		EntityID string `xml:"entityID,attr"`
	}
	if err := xml.Unmarshal(doc, &root); err != nil || root.XMLName.Local != "EntityDescriptor" || root.EntityID == "" {
		t.Fatalf("SP metadata is not one EntityDescriptor with an entityID (%v):\n%s", err, doc)
	}
	entry := idp.convert(t, doc)

	extra := map[string]any{}
	if sp.EncryptAssertion {
		extra["assertion.encryption"] = true
	}
	if sp.ValidateAuthnRequest {
		extra["validate.authnrequest"] = true
	}
	if sp.ValidateLogout {
		extra["validate.logout"] = true
	}
	if sp.SignLogout {
		extra["sign.logout"] = true
	}
	for k, v := range sp.Extra {
		extra[k] = v
	}
	var b strings.Builder
	b.WriteString(entry)
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "$metadata[%s][%s] = %s;\n", phpString(root.EntityID), phpString(k), phpValue(extra[k]))
	}
	idp.mu.Lock()
	idp.sps = append(idp.sps, b.String())
	idp.mu.Unlock()
	if err := idp.writeSPs(); err != nil {
		t.Fatal(err)
	}
	return root.EntityID
}

// convert runs convertSP on doc.
func (idp *IdP) convert(t testing.TB, doc []byte) string {
	t.Helper()
	script := idp.path("php/convert-sp.php")
	if _, err := os.Stat(script); err != nil {
		code := fmt.Sprintf(convertSP, phpString(filepath.Join(Dir(), "lib", "_autoload.php")))
		if err := os.WriteFile(script, []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("php", script)
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+idp.path("config"))
	cmd.Stdin = bytes.NewReader(doc)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("SimpleSAMLphp's metadata converter: %v\n%s%s\nmetadata:\n%s", err, stderr.String(), stdout.String(), doc)
	}
	return stdout.String()
}
