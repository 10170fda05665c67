package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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

// demoBlock is a ```sh block of the README marked to run against the
// demo, with the strings its output must contain after "expect:".
var demoBlock = regexp.MustCompile("(?s)<!-- runs against the demo(?:; expect: ([^\n]*?))? -->\n```sh\n(.*?)```")

// TestREADMEShellAgainstDemo runs the README's shell blocks marked
// `<!-- runs against the demo -->` as a reader would: `ssogate demo --ready
// --dir ./demo-data` in one terminal, the block with bash in another, in
// the same folder, with the built binary on PATH as ssogate. The demo
// gets free ports here (8080-8082 may be taken on a shared machine), so
// the README's 127.0.0.1:8081 becomes the SCIM sidecar's port, as the
// README tells a reader to do when the demo prints another one.
func TestREADMEShellAgainstDemo(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := demoBlock.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```sh block marked <!-- runs against the demo -->")
	}
	bin := ssogateBinary(t)
	work, home := t.TempDir(), t.TempDir()
	binDir := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(binDir, "ssogate")); err != nil {
		t.Fatal(err)
	}

	scimPort := freePort(t)
	demo := ssogateCmd(bin, home, "demo", "--ready", "--dir", "./demo-data",
		"--gate-port", strconv.Itoa(freePort(t)), "--scim-port", strconv.Itoa(scimPort),
		"--idp-port", strconv.Itoa(freePort(t)))
	demo.Dir = work
	out, errs := &lockedBuffer{}, &lockedBuffer{}
	demo.Stdout, demo.Stderr = out, errs
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- demo.Wait() }()
	t.Cleanup(func() {
		_ = demo.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = demo.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Press Ctrl-C to stop."); {
		select {
		case err := <-exited:
			t.Fatalf("ssogate demo ended (%v) before it was ready:\n%s\nstderr:\n%s", err, out, errs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssogate demo printed no ready line within 30s:\n%s\nstderr:\n%s", out, errs)
		}
	}
	scimURL := fmt.Sprintf("http://127.0.0.1:%d/scim/v2", scimPort)
	if !strings.Contains(out.String(), scimURL) {
		t.Fatalf("the demo does not print its SCIM sidecar at %s:\n%s", scimURL, out)
	}

	for i, b := range blocks {
		t.Run("block "+strconv.Itoa(i+1), func(t *testing.T) {
			script := strings.NewReplacer("127.0.0.1:8081", "127.0.0.1:"+strconv.Itoa(scimPort),
				"localhost:8081", "localhost:"+strconv.Itoa(scimPort)).Replace(b[2])
			cmd := ssogateCmd("bash", home, "-euo", "pipefail", "-c", script)
			cmd.Dir = work
			cmd.Env = append(cmd.Env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				t.Fatalf("exit code %d\n%s\nstdout:\n%s\nstderr:\n%s", exitErr.ExitCode(), b[2], &stdout, &stderr)
			} else if err != nil {
				t.Fatal(err)
			}
			if b[1] == "" {
				t.Fatalf("the block's marker names no expected output (<!-- runs against the demo; expect: A | B -->):\n%s", b[2])
			}
			for _, want := range strings.Split(b[1], " | ") {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("the output lacks %s\nstdout:\n%s\nstderr:\n%s", want, &stdout, &stderr)
				}
			}
		})
	}
}

// TestREADMEXcaddyMatchesManifest keeps the README's xcaddy command the
// one CI builds with (scripts/xcaddy-build.sh reads xcaddy.json): the
// module is not published, so only module@version=. builds from a clone.
func TestREADMEXcaddyMatchesManifest(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../xcaddy.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		CaddyVersion string `json:"caddy_version"`
		Plugins      []struct {
			Module, Version, Replace string
		} `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("xcaddy.json: %v", err)
	}
	if len(m.Plugins) != 1 || m.Plugins[0].Replace != "." {
		t.Fatalf("xcaddy.json plugins = %+v; want the module replaced by the clone", m.Plugins)
	}
	p := m.Plugins[0]
	want := fmt.Sprintf("xcaddy build %s --with %s@%s=.", m.CaddyVersion, p.Module, p.Version)
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the command CI builds with: %s", want)
	}
}
