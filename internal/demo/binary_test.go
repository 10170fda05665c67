package demo_test

import (
	"bufio"
	"errors"
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
// printed output, one sign-in, then Ctrl-C (SIGINT).
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

	home := t.TempDir()
	dir := filepath.Join(home, "demo data") // a space, to check the quoting
	cmd := exec.Command(bin, "demo", "--dir", dir)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// Read the output until it says it is ready.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("ssogate demo ended before it was ready:\n%s\nstderr:\n%s", out.String(), stderr.String())
			}
			out.WriteString(line + "\n")
			if strings.Contains(line, "Press Ctrl-C to stop.") {
				break wait
			}
		case <-deadline:
			t.Fatalf("ssogate demo printed no ready line within 10s:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
	}
	ready := time.Since(start)
	t.Logf("`ssogate demo` was ready %s after the process started; it printed:\n%s", ready.Round(time.Millisecond), out.String())

	gateURL := regexp.MustCompile(`Open the app\s+(http://127\.0\.0\.1:\d+)/`).FindStringSubmatch(out.String())
	token := regexp.MustCompile(`Bearer (ssogate_[A-Za-z0-9_-]+)' (http://127\.0\.0\.1:\d+)/scim/v2/Users`).FindStringSubmatch(out.String())
	if gateURL == nil || token == nil {
		t.Fatalf("no app URL or curl line in the output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "--dir '"+dir+"'") {
		t.Errorf("the output does not name the folder, quoted for a shell: %q", dir)
	}

	page := newBrowser(t).spLogin(gateURL[1], member.Email)
	if page.status != http.StatusOK || !strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
		t.Fatalf("sign-in through the binary's demo: %d at %s:\n%s", page.status, page.url, page.body)
	}
	if status, body := scimGet(t, token[2]+"/scim/v2/Users", token[1]); status != http.StatusOK {
		t.Errorf("the printed curl: %d %s", status, body)
	}

	// Ctrl-C: a clean stop, exit code 0.
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Errorf("exit code %d after SIGINT, want 0\nstderr:\n%s", exitErr.ExitCode(), stderr.String())
		} else if err != nil {
			t.Errorf("waiting for ssogate demo: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ssogate demo did not exit within 10s of SIGINT\nstderr:\n%s", stderr.String())
	}
	t.Logf("it stopped %s after SIGINT", time.Since(stopAt).Round(time.Millisecond))
	for line := range lines {
		out.WriteString(line + "\n")
	}
	if !strings.Contains(out.String(), "Stopped. The data is kept in "+dir+".") {
		t.Errorf("no goodbye in the output:\n%s", out.String())
	}
	// The terminal saw the sign-in as a log line, and no Caddy chatter.
	if !strings.Contains(stderr.String(), "sign-in") || strings.Contains(stderr.String(), "admin endpoint disabled") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(gateURL[1], "http://"), time.Second); err == nil {
		t.Error("the gate's port still accepts connections after the exit")
	}
	for _, f := range []string{"ssogate.db", "Caddyfile", "caddy.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the data folder lacks %s: %v", f, err)
		}
	}
}
