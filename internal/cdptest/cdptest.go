//go:build unix

package cdptest

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

// ChromiumPath finds a Chromium or Chrome binary: $SSOGATE_CHROMIUM, else
// the usual names on PATH. Empty when there is none.
func ChromiumPath() string {
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

// Need returns ChromiumPath for a real-browser test, and skips the test
// with -short or, saying how to get one, without a browser.
func Need(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real-browser test")
	}
	path := ChromiumPath()
	if path == "" {
		t.Skip("no Chromium found, so the real-browser test does not run: install Debian's chromium package " +
			"(apt-get install -y chromium) or set SSOGATE_CHROMIUM to a Chromium or Chrome binary")
	}
	return path
}

// Chrome is a headless browser with one tab under the test's control.
type Chrome struct {
	t      testing.TB
	cmd    *exec.Cmd
	ws     *websocket.Conn
	stderr *lockedBuffer

	mu        sync.Mutex
	next      int
	waiting   map[int]chan cdpReply
	readErr   error
	listeners map[string][]func(json.RawMessage)
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

// Start starts headless Chromium (the binary at path) with a fresh
// profile and a window of width×height CSS pixels, and connects to its
// first tab. It is stopped when the test ends.
func Start(t testing.TB, path string, width, height int) *Chrome {
	t.Helper()
	profile, err := os.MkdirTemp("", "ssogate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Chrome{t: t, stderr: &lockedBuffer{}, waiting: map[int]chan cdpReply{}, listeners: map[string][]func(json.RawMessage){}}
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
	c.Call("Page.enable", nil)
	c.Call("Emulation.setDeviceMetricsOverride", map[string]any{
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

// read delivers the replies, and the events that have listeners (On); the
// other events are ignored (tests poll).
func (c *Chrome) read() {
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
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		if m.ID == 0 {
			if m.Method != "" {
				c.mu.Lock()
				fs := c.listeners[m.Method]
				c.mu.Unlock()
				for _, f := range fs {
					f(m.Params)
				}
			}
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

// On calls f with the parameters of each DevTools event named method
// (such as "Network.requestWillBeSent"; its domain must be enabled with
// Call), in order, on the goroutine that reads from Chromium: f must
// return quickly, guard what it shares with the test, and not call c.
func (c *Chrome) On(method string, f func(params json.RawMessage)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners[method] = append(c.listeners[method], f)
}

// Send calls a DevTools method and returns its result.
func (c *Chrome) Send(method string, params any) (json.RawMessage, error) {
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

// Call is Send that fails the test on an error.
func (c *Chrome) Call(method string, params any) json.RawMessage {
	c.t.Helper()
	res, err := c.Send(method, params)
	if err != nil {
		c.t.Fatalf("%v\nChromium's output:\n%s", err, c.stderr.String())
	}
	return res
}

// Navigate opens a URL in the tab.
func (c *Chrome) Navigate(u string) {
	c.t.Helper()
	res := c.Call("Page.navigate", map[string]any{"url": u})
	var r struct {
		ErrorText string `json:"errorText"`
	}
	_ = json.Unmarshal(res, &r)
	if r.ErrorText != "" {
		c.t.Fatalf("navigating to %s: %s", u, r.ErrorText)
	}
}

// Eval runs a JavaScript expression in the page and decodes its value
// into v (when not nil).
func (c *Chrome) Eval(expr string, v any) error {
	res, err := c.Send("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
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

// Do runs a JavaScript statement, such as a click, failing the test on an
// error.
func (c *Chrome) Do(js string) {
	c.t.Helper()
	if err := c.Eval(js, nil); err != nil {
		c.t.Fatal(err)
	}
}

// WaitFor waits until a JavaScript condition holds in the page; pages
// change under it, so errors while one loads count as "not yet".
func (c *Chrome) WaitFor(what, cond string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	expr := "(() => { try { return document.readyState === 'complete' && !!(" + cond + ") } catch (e) { return false } })()"
	for {
		var ok bool
		if err := c.Eval(expr, &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var where, text string
			_ = c.Eval("location.href", &where)
			_ = c.Eval("document.body ? document.body.innerText : ''", &text)
			c.t.Fatalf("waiting for %s: still not there after 20s; the tab is at %s showing:\n%s", what, where, text)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Act marks the page as left, then runs js (a click that submits a form
// or follows a link); WaitPage then waits for the next page, not this one.
func (c *Chrome) Act(js string) {
	c.t.Helper()
	c.Do("window.__left = true; " + js)
}

// WaitPage waits for a page that Act or Open led to: not the one left.
func (c *Chrome) WaitPage(what, cond string) {
	c.t.Helper()
	c.WaitFor(what, "!window.__left && ("+cond+")")
}

// Open navigates to u and waits for the page.
func (c *Chrome) Open(u, what, cond string) {
	c.t.Helper()
	c.Do("window.__left = true")
	c.Navigate(u)
	c.WaitPage(what, cond)
}

// SetValue sets a form field's value, as typing or pasting does.
func (c *Chrome) SetValue(id, value string) {
	c.t.Helper()
	c.Do(`(() => { const e = document.getElementById(` + JS(id) + `); e.value = ` + JS(value) +
		`; e.dispatchEvent(new Event("input", {bubbles: true})) })()`)
}

// Type focuses the field with this id and types text into it, through
// the browser's input as a keyboard's text arrives (Input.insertText).
func (c *Chrome) Type(id, text string) {
	c.t.Helper()
	c.Do(`document.getElementById(` + JS(id) + `).focus()`)
	c.Call("Input.insertText", map[string]any{"text": text})
}

// EvalString evaluates a JavaScript expression to a string.
func (c *Chrome) EvalString(expr string) string {
	c.t.Helper()
	var s string
	if err := c.Eval(expr, &s); err != nil {
		c.t.Fatal(err)
	}
	return s
}

// EvalBool evaluates a JavaScript expression to a boolean.
func (c *Chrome) EvalBool(expr string) bool {
	c.t.Helper()
	var b bool
	if err := c.Eval(expr, &b); err != nil {
		c.t.Fatal(err)
	}
	return b
}

// Status is the HTTP status of the page the tab shows.
func (c *Chrome) Status() int {
	c.t.Helper()
	var n int
	if err := c.Eval(`performance.getEntriesByType("navigation")[0].responseStatus`, &n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// Screenshot saves the whole page (not only what the window shows) as a
// PNG.
func (c *Chrome) Screenshot(path string) {
	c.t.Helper()
	var size struct {
		CSSContentSize struct {
			Width, Height float64
		} `json:"cssContentSize"`
		CSSLayoutViewport struct {
			ClientWidth, ClientHeight float64
		} `json:"cssLayoutViewport"`
	}
	if err := json.Unmarshal(c.Call("Page.getLayoutMetrics", nil), &size); err != nil {
		c.t.Fatal(err)
	}
	w := max(size.CSSContentSize.Width, size.CSSLayoutViewport.ClientWidth)
	h := max(size.CSSContentSize.Height, size.CSSLayoutViewport.ClientHeight)
	res := c.Call("Page.captureScreenshot", map[string]any{
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

// JS quotes s as a JavaScript string literal, to build expressions.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
