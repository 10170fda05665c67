package demo_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoBinary runs `ssogate demo` as people do: the real binary, its
// printed output, then Ctrl-C (SIGINT). The default demo prints the
// owner's password and the IdP's values, and the owner signs in with the
// password; `--ready` lets a member sign in through the IdP at once.
func TestDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ssogate binary; skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGINT")
	}
	bin := filepath.Join(t.TempDir(), "ssogate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ssogate")
	build.Dir = filepath.Join("..", "..") // the module root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/ssogate: %v\n%s", err, out)
	}

	t.Run("default", func(t *testing.T) {
		d := startBinary(t, bin)
		out := d.out
		gateURL := regexp.MustCompile(`Open the app\s+(http://127\.0\.0\.1:\d+)/`).FindStringSubmatch(out)
		password := regexp.MustCompile(`Password: ([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})`).FindStringSubmatch(out)
		loginURL := regexp.MustCompile(`(http://127\.0\.0\.1:\d+/sso/password\?rd=/sso/admin/sso)`).FindStringSubmatch(out)
		ssoURL := regexp.MustCompile(`Authentication URL\s+(http://127\.0\.0\.1:\d+/sso)\n`).FindStringSubmatch(out)
		issuer := regexp.MustCompile(`Issuer URL\s+(http://127\.0\.0\.1:\d+/metadata)\n`).FindStringSubmatch(out)
		certURL := regexp.MustCompile(`download (http://127\.0\.0\.1:\d+/certificate\.pem)`).FindStringSubmatch(out)
		if gateURL == nil || password == nil || loginURL == nil || ssoURL == nil || issuer == nil || certURL == nil {
			t.Fatalf("the output lacks the app, the owner's password, the login page or the IdP's values:\n%s", out)
		}
		for _, want := range []string{owner.Email, "-----BEGIN CERTIFICATE-----", "the demo's DNS publishes the record for you", "--ready"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q", want)
			}
		}
		if !strings.Contains(out, "--dir '"+d.dir+"'") {
			t.Errorf("the output does not name the folder, quoted for a shell: %q", d.dir)
		}
		// The printed certificate is the one the IdP offers.
		resp, err := http.Get(certURL[1])
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(out, string(cert)) {
			t.Errorf("GET %s = %d; the printed PEM is not the download:\n%s", certURL[1], resp.StatusCode, cert)
		}

		// The owner signs in with the printed password; members cannot
		// use SSO before it is set up.
		b := newBrowser(t)
		login := b.get(loginURL[1])
		f := findForm(t, login.body, "password-form")
		f.values.Set("email", owner.Email)
		f.values.Set("password", password[1])
		b.post(resolve(t, login.url, f.action), f.values)
		if me := b.get(gateURL[1] + "/sso/userinfo"); me.status != http.StatusOK || !strings.Contains(me.body, owner.Email) {
			t.Errorf("the owner's password sign-in: /sso/userinfo = %d %s", me.status, me.body)
		}
		if page := newBrowser(t).get(gateURL[1] + "/"); strings.Contains(page.body, "Continue with SSO") {
			t.Errorf("the login page offers SSO before it is set up")
		}
		if _, stderr := d.stop(t); !strings.Contains(stderr, "sign-in") {
			t.Errorf("stderr shows no sign-in:\n%s", stderr)
		}
	})

	t.Run("ready", func(t *testing.T) {
		d := startBinary(t, bin, "--ready")
		out := d.out
		gateURL := regexp.MustCompile(`Open the app\s+(http://127\.0\.0\.1:\d+)/`).FindStringSubmatch(out)
		token := regexp.MustCompile(`Bearer (ssogate_[A-Za-z0-9_-]+)' (http://127\.0\.0\.1:\d+)/scim/v2/Users`).FindStringSubmatch(out)
		if gateURL == nil || token == nil {
			t.Fatalf("no app URL or curl line in the output:\n%s", out)
		}
		page := newBrowser(t).spLogin(gateURL[1], member.Email)
		if page.status != http.StatusOK || !strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
			t.Fatalf("sign-in through the binary's demo: %d at %s:\n%s", page.status, page.url, page.body)
		}
		if status, body := scimGet(t, token[2]+"/scim/v2/Users", token[1]); status != http.StatusOK {
			t.Errorf("the printed curl: %d %s", status, body)
		}
		_, stderr := d.stop(t)
		// The terminal saw the sign-in as a log line, and no Caddy chatter.
		if !strings.Contains(stderr, "sign-in") || strings.Contains(stderr, "admin endpoint disabled") {
			t.Errorf("stderr:\n%s", stderr)
		}
		if _, err := net.DialTimeout("tcp", strings.TrimPrefix(gateURL[1], "http://"), time.Second); err == nil {
			t.Error("the gate's port still accepts connections after the exit")
		}
	})
}

// binaryDemo is `ssogate demo` running as its own process.
type binaryDemo struct {
	dir    string
	out    string // stdout up to the ready line
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	exited chan error
}

// startBinary runs `ssogate demo` with args on a new folder and waits
// for its ready line.
func startBinary(t *testing.T, bin string, args ...string) *binaryDemo {
	t.Helper()
	home := t.TempDir()
	d := &binaryDemo{dir: filepath.Join(home, "demo data"), // a space, to check the quoting
		stderr: &strings.Builder{}, lines: make(chan string, 200), exited: make(chan error, 1)}
	d.cmd = exec.Command(bin, append([]string{"demo", "--dir", d.dir}, args...)...)
	d.cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = d.stderr
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})

	// Read the output until it says it is ready.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	var out strings.Builder
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("ssogate demo ended before it was ready:\n%s\nstderr:\n%s", out.String(), d.stderr.String())
			}
			out.WriteString(line + "\n")
			if strings.Contains(line, "Press Ctrl-C to stop.") {
				break wait
			}
		case <-deadline:
			t.Fatalf("ssogate demo printed no ready line within 10s:\n%s\nstderr:\n%s", out.String(), d.stderr.String())
		}
	}
	d.out = out.String()
	t.Logf("`ssogate demo %s` was ready %s after the process started; it printed:\n%s",
		strings.Join(args, " "), time.Since(start).Round(time.Millisecond), d.out)
	return d
}

// stop sends Ctrl-C (SIGINT) and checks for a clean stop: exit code 0, a
// goodbye, the data kept. It returns the rest of stdout, and stderr.
func (d *binaryDemo) stop(t *testing.T) (string, string) {
	t.Helper()
	stopAt := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Errorf("exit code %d after SIGINT, want 0\nstderr:\n%s", exitErr.ExitCode(), d.stderr.String())
		} else if err != nil {
			t.Errorf("waiting for ssogate demo: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ssogate demo did not exit within 10s of SIGINT\nstderr:\n%s", d.stderr.String())
	}
	t.Logf("it stopped %s after SIGINT", time.Since(stopAt).Round(time.Millisecond))
	var rest strings.Builder
	for line := range d.lines {
		rest.WriteString(line + "\n")
	}
	if !strings.Contains(rest.String(), "Stopped. The data is kept in "+d.dir+".") {
		t.Errorf("no goodbye in the output:\n%s", rest.String())
	}
	for _, f := range []string{"ssogate.db", "Caddyfile", "caddy.log", "idp-certificate.pem", "idp-key.pem"} {
		if _, err := os.Stat(filepath.Join(d.dir, f)); err != nil {
			t.Errorf("the data folder lacks %s: %v", f, err)
		}
	}
	return rest.String(), d.stderr.String()
}
