//go:build unix

package demo_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// A small Chrome DevTools Protocol client: enough to drive one headless
// Chromium tab (navigate, evaluate JavaScript, take screenshots) without
// a browser-automation dependency.

// chromiumPath finds a Chromium or Chrome binary: $SSOGATE_CHROMIUM, else
// the usual names on PATH. Empty when there is none.
func chromiumPath() string {
	if p := os.Getenv("SSOGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chrome is a headless browser with one tab under the test's control.
type chrome struct {
	t      *testing.T
	cmd    *exec.Cmd
	ws     *websocket.Conn
	stderr *lockedBuffer

	mu      sync.Mutex
	next    int
	waiting map[int]chan cdpReply
	readErr error
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startChrome starts headless Chromium with a fresh profile and connects
// to its first tab. It is stopped when the test ends.
func startChrome(t *testing.T, path string, width, height int) *chrome {
	t.Helper()
	profile, err := os.MkdirTemp("", "ssogate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	c := &chrome{t: t, stderr: &lockedBuffer{}, waiting: map[int]chan cdpReply{}}
	c.cmd = exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-features=Translate,MediaRouter,OptimizationHints",
		"--password-store=basic", "--use-mock-keychain", "--hide-scrollbars",
		"--user-data-dir="+profile, "--remote-debugging-port=0",
		"--remote-allow-origins=http://127.0.0.1",
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"about:blank")
	c.cmd.Stdout = c.stderr
	c.cmd.Stderr = c.stderr
	// Its own process group, so that stopping it stops its helpers too.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(profile)
		t.Fatalf("starting %s: %v", path, err)
	}
	exited := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if c.ws != nil {
			c.ws.Close()
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("Chromium did not exit")
		}
		os.RemoveAll(profile)
	})

	// Chromium writes its DevTools port into the profile.
	var port string
	deadline := time.Now().Add(30 * time.Second)
	for port == "" {
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if first, _, ok := strings.Cut(string(b), "\n"); ok {
				port = strings.TrimSpace(first)
			}
		}
		select {
		case <-exited:
			t.Fatalf("Chromium exited at start:\n%s", c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Chromium gave no DevTools port within 30s:\n%s", c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "http://127.0.0.1:" + port
	var targets []struct {
		Type, URL            string
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	for len(targets) == 0 {
		if err := getJSON(base+"/json/list", &targets); err != nil && time.Now().After(deadline) {
			t.Fatalf("listing Chromium's tabs: %v", err)
		}
		var pages = targets[:0]
		for _, tg := range targets {
			if tg.Type == "page" {
				pages = append(pages, tg)
			}
		}
		targets = pages
		if len(targets) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("Chromium has no tab")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.ws, err = websocket.Dial(targets[0].WebSocketDebuggerURL, "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("connecting to Chromium: %v", err)
	}
	go c.read()
	c.call("Page.enable", nil)
	c.call("Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	})
	return c
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// read delivers the replies; events are ignored (the test polls).
func (c *chrome) read() {
	for {
		var msg []byte
		err := websocket.Message.Receive(c.ws, &msg)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg, &m) != nil || m.ID == 0 {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// send calls a DevTools method and returns its result.
func (c *chrome) send(method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return nil, c.readErr
	}
	c.next++
	id := c.next
	ch := make(chan cdpReply, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := websocket.Message.Send(c.ws, string(msg)); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: connection lost: %v", method, c.readErr)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		return r.Result, nil
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("%s: no reply within 20s", method)
	}
}

// call is send that fails the test on an error.
func (c *chrome) call(method string, params any) json.RawMessage {
	c.t.Helper()
	res, err := c.send(method, params)
	if err != nil {
		c.t.Fatalf("%v\nChromium's output:\n%s", err, c.stderr.String())
	}
	return res
}

// navigate opens a URL in the tab.
func (c *chrome) navigate(u string) {
	c.t.Helper()
	res := c.call("Page.navigate", map[string]any{"url": u})
	var r struct {
		ErrorText string `json:"errorText"`
	}
	_ = json.Unmarshal(res, &r)
	if r.ErrorText != "" {
		c.t.Fatalf("navigating to %s: %s", u, r.ErrorText)
	}
}

// eval runs a JavaScript expression in the page and decodes its value
// into v (when not nil).
func (c *chrome) eval(expr string, v any) error {
	res, err := c.send("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if v != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, v)
	}
	return nil
}

// do runs a JavaScript statement, such as a click, failing the test on an
// error.
func (c *chrome) do(js string) {
	c.t.Helper()
	if err := c.eval(js, nil); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor waits until a JavaScript condition holds in the page; pages
// change under it, so errors while one loads count as "not yet".
func (c *chrome) waitFor(what, cond string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	expr := "(() => { try { return document.readyState === 'complete' && !!(" + cond + ") } catch (e) { return false } })()"
	for {
		var ok bool
		if err := c.eval(expr, &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var where, text string
			_ = c.eval("location.href", &where)
			_ = c.eval("document.body ? document.body.innerText : ''", &text)
			c.t.Fatalf("waiting for %s: still not there after 20s; the tab is at %s showing:\n%s", what, where, text)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// screenshot saves the whole page (not only what the window shows) as a
// PNG.
func (c *chrome) screenshot(path string) {
	c.t.Helper()
	var size struct {
		CSSContentSize struct {
			Width, Height float64
		} `json:"cssContentSize"`
		CSSLayoutViewport struct {
			ClientWidth, ClientHeight float64
		} `json:"cssLayoutViewport"`
	}
	if err := json.Unmarshal(c.call("Page.getLayoutMetrics", nil), &size); err != nil {
		c.t.Fatal(err)
	}
	w := max(size.CSSContentSize.Width, size.CSSLayoutViewport.ClientWidth)
	h := max(size.CSSContentSize.Height, size.CSSLayoutViewport.ClientHeight)
	res := c.call("Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": w, "height": h, "scale": 1},
	})
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		c.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s (%d KB)", path, (len(png)+1023)/1024)
}
