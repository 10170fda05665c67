// Package ssptest runs SimpleSAMLphp, from Debian's simplesamlphp
// package, as a SAML 2.0 identity provider on loopback for ssogate's
// interop tests: an IdP nobody here wrote. Start writes a configuration
// into a temporary directory (config.php, authsources.php with an
// exampleauth:UserPass source, the hosted IdP's metadata with a fresh key
// and certificate), runs it with PHP's built-in web server (`php -S`) and
// stops it when the test ends. Service providers are added from their
// SAML metadata with AddSP, converted to SimpleSAMLphp's saml20-sp-remote
// form by SimpleSAMLphp's own metadata parser. Visit, SubmitLogin and
// SignIn drive its login page with any net/http client.
//
// It is for tests only: every failure ends the test, a test skips (naming
// the Debian package to install) where SimpleSAMLphp or PHP is missing,
// and the IdP's log is shown when a test fails.
package ssptest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dir is where Debian's simplesamlphp package installs SimpleSAMLphp; the
// SIMPLESAMLPHP_DIR environment variable names another install.
func Dir() string {
	if d := os.Getenv("SIMPLESAMLPHP_DIR"); d != "" {
		return d
	}
	return "/usr/share/simplesamlphp"
}

// Available says why SimpleSAMLphp cannot run here, naming the Debian
// packages to install, or returns nil.
func Available() error {
	if _, err := os.Stat(filepath.Join(Dir(), "www", "saml2", "idp", "SSOService.php")); err != nil {
		return fmt.Errorf("SimpleSAMLphp is not installed at %s (apt-get install simplesamlphp php-cli php-xml): %v", Dir(), err)
	}
	php, err := exec.LookPath("php")
	if err != nil {
		return errors.New("no php command (apt-get install php-cli php-xml)")
	}
	out, err := exec.Command(php, "-m").Output()
	if err != nil {
		return fmt.Errorf("php -m: %v", err)
	}
	mods := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		mods[strings.ToLower(m)] = true
	}
	for mod, pkg := range map[string]string{"dom": "php-xml", "openssl": "php-cli", "session": "php-cli"} {
		if !mods[mod] {
			return fmt.Errorf("php has no %s extension, which SimpleSAMLphp needs (apt-get install %s)", mod, pkg)
		}
	}
	return nil
}

// FaketimeLibrary returns the path of libfaketime (Debian's faketime
// package), which shifts the IdP's clock, or "".
func FaketimeLibrary() string {
	matches, _ := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}

// User is a person the IdP's exampleauth:UserPass source signs in.
type User struct {
	Username string // what the login form takes; the email when empty
	Password string
	Email    string // the NameID (emailAddress format) and the email attribute
	// GivenName and Surname are sent as firstName and lastName.
	GivenName string
	Surname   string
	// Groups, when any, are sent as the multi-valued groups attribute.
	Groups []string
}

func (u User) username() string {
	if u.Username != "" {
		return u.Username
	}
	return u.Email
}

// Content-encryption algorithms for Options.ContentEncryption.
const (
	AES128CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	AES256CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	AES128GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	AES256GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
)

// Options shape the IdP.
type Options struct {
	Users []User
	// ClockOffset runs the IdP that far ahead of (positive) or behind
	// (negative) the real clock, with libfaketime; a test skips when
	// Debian's faketime package is not installed.
	ClockOffset time.Duration
	// WantAuthnRequestsSigned sets validate.authnrequest on the hosted IdP:
	// its metadata says WantAuthnRequestsSigned="true" and it refuses an
	// unsigned AuthnRequest from any SP (AddSP can ask it per SP).
	WantAuthnRequestsSigned bool
	// ContentEncryption is the block cipher of encrypted assertions, one
	// of the constants above. SimpleSAMLphp 1.19 always encrypts with
	// AES-128-CBC under a key sent with RSA-OAEP-MGF1P to the SP's
	// certificate (its sharedkey_algorithm option is only for a key
	// shared in advance, without key transport); another cipher is had by
	// loading, ahead of SimpleSAMLphp's own, a copy of its
	// SAML2\EncryptedAssertion class with that one constant changed.
	ContentEncryption string
	// HostedExtra are more keys of the hosted IdP's metadata
	// (saml20-idp-hosted), overriding the ones Start writes.
	HostedExtra map[string]any
}

// IdP is a running SimpleSAMLphp.
type IdP struct {
	t       testing.TB
	dir     string
	baseURL string
	certPEM []byte
	cookies []string // the names of the cookies it sets
	cmd     *exec.Cmd
	log     *logBuffer
	done    chan struct{}

	mu  sync.Mutex
	sps []string // saml20-sp-remote.php entries, in order added
}

// Start runs SimpleSAMLphp until the test ends. It skips the test when
// SimpleSAMLphp, PHP or (for a ClockOffset) libfaketime is missing.
func Start(t testing.TB, opts Options) *IdP {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	var faketime string
	if opts.ClockOffset != 0 {
		if faketime = FaketimeLibrary(); faketime == "" {
			t.Skip("no libfaketime to shift the IdP's clock (apt-get install faketime)")
		}
	}
	idp := &IdP{t: t, dir: t.TempDir(), log: &logBuffer{}, done: make(chan struct{})}
	for _, d := range []string{"config", "metadata", "cert", "sessions", "data", "tmp", "php"} {
		if err := os.MkdirAll(idp.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, certPEM, err := newKeyPair("SimpleSAMLphp test IdP")
	if err != nil {
		t.Fatal(err)
	}
	idp.certPEM = certPEM
	idp.write("cert/idp.key", keyPEM)
	idp.write("cert/idp.crt", certPEM)

	args := []string{"-S", "127.0.0.1:0", "-t", filepath.Join(Dir(), "www")}
	if opts.ContentEncryption != "" {
		prepend, err := idp.cipherOverride(opts.ContentEncryption)
		if err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-d", "auto_prepend_file=" + prepend}, args...)
	}
	idp.cmd = exec.Command("php", args...)
	idp.cmd.Dir = idp.dir
	idp.cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+idp.path("config"))
	if faketime != "" {
		idp.cmd.Env = append(idp.cmd.Env, "LD_PRELOAD="+faketime,
			fmt.Sprintf("FAKETIME=%+d", int64(opts.ClockOffset/time.Second)))
	}
	idp.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := idp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	idp.cmd.Stderr = idp.cmd.Stdout
	if err := idp.cmd.Start(); err != nil {
		t.Fatalf("starting php -S: %v", err)
	}
	started := make(chan string, 1)
	go idp.readLog(out, started)
	t.Cleanup(idp.stop)

	// php -S picks a free port and says which; the configuration, read
	// on every request, is written once the base URL is known.
	select {
	case addr := <-started:
		idp.baseURL = "http://" + addr + "/"
	case <-idp.done:
		t.Fatalf("php -S exited at start:\n%s", idp.log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("php -S did not start within 15s:\n%s", idp.log.String())
	}
	if err := idp.writeConfig(opts); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(idp.MetadataURL())
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", idp.MetadataURL(), err, idp.log.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("IDPSSODescriptor")) {
		t.Fatalf("SimpleSAMLphp's metadata = %d:\n%s\nlog:\n%s", resp.StatusCode, body, idp.log.String())
	}
	return idp
}

var startedRE = regexp.MustCompile(`Development Server \(http://([0-9.]+:[0-9]+)\) started`)

// readLog copies php's output (its access log and, with the errorlog
// handler, SimpleSAMLphp's own log) into the log buffer.
func (idp *IdP) readLog(r io.Reader, started chan<- string) {
	defer close(idp.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		idp.log.add(line)
		if m := startedRE.FindStringSubmatch(line); !sent && m != nil {
			started <- m[1]
			sent = true
		}
	}
	_ = idp.cmd.Wait()
}

func (idp *IdP) stop() {
	if idp.cmd.Process != nil {
		_ = syscall.Kill(-idp.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-idp.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-idp.cmd.Process.Pid, syscall.SIGKILL)
			<-idp.done
		}
	}
	if idp.t.Failed() {
		idp.t.Logf("SimpleSAMLphp at %s, log:\n%s", idp.baseURL, idp.log.String())
		sps, _ := os.ReadFile(idp.path("metadata/saml20-sp-remote.php"))
		idp.t.Logf("its metadata/saml20-sp-remote.php:\n%s", sps)
	}
}

// Log is what the IdP has logged so far: PHP's built-in server's access
// log, PHP errors and SimpleSAMLphp's own log (at debug level).
func (idp *IdP) Log() string { return idp.log.String() }

// BaseURL is the IdP's origin and path, ending in a slash.
func (idp *IdP) BaseURL() string { return idp.baseURL }

// MetadataURL serves the IdP's SAML 2.0 metadata; it is also its entity
// ID.
func (idp *IdP) MetadataURL() string { return idp.baseURL + "saml2/idp/metadata.php" }

// EntityID is the IdP's entity ID (its Issuer).
func (idp *IdP) EntityID() string { return idp.MetadataURL() }

// SSOURL is the IdP's single sign-on service (HTTP-Redirect and POST).
func (idp *IdP) SSOURL() string { return idp.baseURL + "saml2/idp/SSOService.php" }

// SLOURL is the IdP's single logout service (HTTP-Redirect).
func (idp *IdP) SLOURL() string { return idp.baseURL + "saml2/idp/SingleLogoutService.php" }

// CertificatePEM is the IdP's signing (and encryption) certificate.
func (idp *IdP) CertificatePEM() []byte { return idp.certPEM }

// IdPInitiatedURL starts an IdP-initiated sign-in at the SP with entity
// ID spEntityID, with relayState unless it is empty.
func (idp *IdP) IdPInitiatedURL(spEntityID, relayState string) string {
	q := url.Values{"spentityid": {spEntityID}}
	if relayState != "" {
		q.Set("RelayState", relayState)
	}
	return idp.SSOURL() + "?" + q.Encode()
}

// LogoutURL starts an IdP-initiated single logout of every SP the
// browser's IdP session signed in to; the IdP sends the browser to
// returnTo at the end.
func (idp *IdP) LogoutURL(returnTo string) string {
	return idp.baseURL + "saml2/idp/initSLO.php?" + url.Values{"RelayState": {returnTo}}.Encode()
}

// Cookies are the names of the cookies the IdP sets in a browser.
func (idp *IdP) Cookies() []string { return idp.cookies }

func (idp *IdP) path(rel string) string { return filepath.Join(idp.dir, filepath.FromSlash(rel)) }

func (idp *IdP) write(rel string, data []byte) {
	idp.t.Helper()
	if err := os.WriteFile(idp.path(rel), data, 0o600); err != nil {
		idp.t.Fatal(err)
	}
}

// writeConfig writes config.php, authsources.php and the hosted IdP's
// metadata.
func (idp *IdP) writeConfig(opts Options) error {
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	// Each IdP's cookies have their own names: browsers keep cookies by
	// host, not port, so two IdPs and the gate on 127.0.0.1 share a jar.
	suffix := hex.EncodeToString(salt[:4])
	idp.cookies = []string{"SimpleSAML" + suffix, "SimpleSAMLSessionID" + suffix, "SimpleSAMLAuthToken" + suffix}
	config := map[string]any{
		// The full URL: SimpleSAMLphp builds its entity ID and endpoints
		// from it.
		"baseurlpath": idp.baseURL,
		// Everything it writes stays in the test's directory.
		"certdir":          idp.path("cert") + "/",
		"loggingdir":       idp.path("data") + "/",
		"datadir":          idp.path("data") + "/",
		"tempdir":          idp.path("tmp"),
		"metadatadir":      idp.path("metadata"),
		"metadata.sources": []any{map[string]any{"type": "flatfile", "directory": idp.path("metadata")}},
		"secretsalt":       hex.EncodeToString(salt),
		// Random: the admin pages are not used.
		"auth.adminpassword":     hex.EncodeToString(salt[4:16]),
		"technicalcontact_email": "na@example.org", // no ContactPerson in the metadata
		"timezone":               "UTC",
		"enable.saml20-idp":      true,
		"module.enable":          map[string]any{"core": true, "saml": true, "exampleauth": true, "admin": true},
		// Its own log goes to PHP's error log, which php -S writes to its
		// output: one log, kept by the harness.
		"logging.level":   phpCode(`SimpleSAML\Logger::DEBUG`),
		"logging.handler": "errorlog",
		"logging.format":  "%level %stat[%trackid] %msg",
		// Error pages name the exception (see Page.Exception), without a
		// report form.
		"showerrors":     true,
		"errorreporting": false,
		"production":     true,
		// RelayState URLs (initSLO's return) may go to any loopback port.
		"trusted.url.regex":   true,
		"trusted.url.domains": []string{`127\.0\.0\.1(:\d+)?`, `localhost(:\d+)?`, `\[::1\](:\d+)?`},
		// Sessions in files in the test's directory, cookies over plain
		// HTTP (a cookie jar does not send Secure cookies to http://).
		"store.type":                    "phpsession",
		"session.phpsession.savepath":   idp.path("sessions"),
		"session.phpsession.cookiename": idp.cookies[0],
		"session.cookie.name":           idp.cookies[1],
		"session.authtoken.cookiename":  idp.cookies[2],
		"session.cookie.secure":         false,
		"session.cookie.samesite":       nil,
		"language.cookie.secure":        false,
		"language.cookie.samesite":      nil,
		"language.parameter.setcookie":  false,
	}
	if err := os.WriteFile(idp.path("config/config.php"), []byte("<?php\n$config = "+phpValue(config)+";\n"), 0o600); err != nil {
		return err
	}

	users := map[string]any{}
	for _, u := range opts.Users {
		attrs := map[string]any{
			"email":     []string{u.Email},
			"firstName": []string{u.GivenName},
			"lastName":  []string{u.Surname},
		}
		if len(u.Groups) > 0 {
			attrs["groups"] = u.Groups
		}
		users[u.username()+":"+u.Password] = attrs
	}
	authsources := "<?php\n$config = [\n    'admin' => ['core:AdminPassword'],\n" +
		"    'example-userpass' => array_merge(['exampleauth:UserPass'], " +
		strings.ReplaceAll(phpValue(users), "\n", "\n    ") + "),\n];\n"
	if err := os.WriteFile(idp.path("config/authsources.php"), []byte(authsources), 0o600); err != nil {
		return err
	}

	hosted := map[string]any{
		"host":                       "__DEFAULT__",
		"privatekey":                 idp.path("cert/idp.key"),
		"certificate":                idp.path("cert/idp.crt"),
		"auth":                       "example-userpass",
		"NameIDFormat":               "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		"simplesaml.nameidattribute": "email",
		"attributes.NameFormat":      "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
		"signature.algorithm":        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
	}
	if opts.WantAuthnRequestsSigned {
		hosted["validate.authnrequest"] = true
	}
	for k, v := range opts.HostedExtra {
		hosted[k] = v
	}
	if err := os.WriteFile(idp.path("metadata/saml20-idp-hosted.php"),
		[]byte("<?php\n$metadata['__DYNAMIC:1__'] = "+phpValue(hosted)+";\n"), 0o600); err != nil {
		return err
	}
	return idp.writeSPs()
}

func (idp *IdP) writeSPs() error {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return os.WriteFile(idp.path("metadata/saml20-sp-remote.php"),
		[]byte("<?php\n"+strings.Join(idp.sps, "\n")), 0o600)
}

// cipherOverride writes a copy of SimpleSAMLphp's SAML2\EncryptedAssertion
// whose session key uses alg, and a file for PHP's auto_prepend_file that
// declares it before SimpleSAMLphp's autoloader could load the original;
// it returns that file.
func (idp *IdP) cipherOverride(alg string) (string, error) {
	src := filepath.Join(Dir(), "vendor", "simplesamlphp", "saml2", "src", "SAML2", "EncryptedAssertion.php")
	code, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("ContentEncryption: %v", err)
	}
	const fixed = "new XMLSecurityKey(XMLSecurityKey::AES128_CBC)"
	if n := bytes.Count(code, []byte(fixed)); n != 1 {
		return "", fmt.Errorf("ContentEncryption: %s has %d copies of %q, want 1: this SimpleSAMLphp is not 1.19's", src, n, fixed)
	}
	code = bytes.Replace(code, []byte(fixed), []byte("new XMLSecurityKey("+phpString(alg)+")"), 1)
	copyPath := idp.path("php/EncryptedAssertion.php")
	if err := os.WriteFile(copyPath, code, 0o600); err != nil {
		return "", err
	}
	prepend := idp.path("php/prepend.php")
	// The class extends nothing: declaring it before any autoloader
	// runs needs none of its dependencies yet.
	err = os.WriteFile(prepend, []byte("<?php\nrequire_once "+phpString(copyPath)+";\n"), 0o600)
	return prepend, err
}

// newKeyPair makes an RSA-2048 key and a self-signed certificate for it,
// valid from a day ago for a year, both PEM.
func newKeyPair(cn string) (keyPEM, certPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// logBuffer keeps php's output, safe for use from the reading goroutine
// and the test.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
