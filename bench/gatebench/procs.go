package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is a child process the harness started: the upstream, a gateway or
// the SCIM sidecar. Its output is kept for error messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the start, which says why it failed
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// children are every process started, stopped by stopAll.
var (
	childrenMu sync.Mutex
	children   []*proc
)

// startProc starts a program with its own environment rooted in dir, so
// Caddy writes nothing into the user's home. The child is sent SIGTERM if
// the harness dies.
func startProc(name, dir string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	childrenMu.Lock()
	children = append(children, p)
	childrenMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end (SIGINT, as Ctrl-C) and kills it after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func stopAll() {
	childrenMu.Lock()
	ps := append([]*proc(nil), children...)
	childrenMu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// waitHTTP waits until url answers anything over HTTP, or the process ends.
func (p *proc) waitHTTP(url string) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before listening; output:\n%s", p.name, p.err, p.out.String())
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: nothing answered at %s after 30 s; output:\n%s", p.name, url, p.out.String())
}

// cpuTicks returns the process's user plus system CPU time, in clock
// ticks, over all its threads.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unparsable /proc stat times")
	}
	return ut + st, nil
}

// machineTicks returns the busy and total CPU time of the whole machine,
// in clock ticks, from the first line of /proc/stat.
func machineTicks() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat format")
	}
	v := make([]int64, 8) // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return busy, busy + v[3] + v[4], nil
}

// memInfo is a process's memory in KiB, from /proc/PID/status.
type memInfo struct {
	rss, hwm   int64 // VmRSS and VmHWM (peak RSS)
	anon, file int64 // RssAnon, RssFile: the process's own memory, and file pages it maps (its executable)
}

// memKiB reads the process's memInfo.
func memKiB(pid int) (memInfo, error) {
	var m memInfo
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = v
		case "VmHWM:":
			m.hwm = v
		case "RssAnon:":
			m.anon = v
		case "RssFile:":
			m.file = v
		}
	}
	return m, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// --- the upstream ---

// runUpstream is the app behind both gateways, run in its own process
// (`gatebench upstream -addr A -ctl C`): it answers 200 "ok" to everything
// on A and counts requests, and those that carry the gate's identity
// header. On C it reports the counts (/stats) and the headers of the last
// request to /__probe (/probe).
func runUpstream(args []string) error {
	var addr, ctl string
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-addr":
			addr = args[i+1]
		case "-ctl":
			ctl = args[i+1]
		}
	}
	if addr == "" || ctl == "" {
		return errors.New("usage: gatebench upstream -addr HOST:PORT -ctl HOST:PORT")
	}
	var total, identified atomic.Int64
	var probeMu sync.Mutex
	probe := http.Header{}
	body := []byte("ok\n")
	ctype := []string{"text/plain; charset=utf-8"}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		if len(r.Header["X-Forwarded-User"]) > 0 {
			identified.Add(1)
		}
		if r.URL.Path == "/__probe" {
			probeMu.Lock()
			probe = r.Header.Clone()
			probeMu.Unlock()
		}
		w.Header()["Content-Type"] = ctype
		_, _ = w.Write(body)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(upstreamStats{Total: total.Load(), Identified: identified.Load()})
	})
	mux.HandleFunc("/probe", func(w http.ResponseWriter, _ *http.Request) {
		probeMu.Lock()
		defer probeMu.Unlock()
		_ = json.NewEncoder(w).Encode(probe)
	})
	errc := make(chan error, 2)
	go func() { errc <- (&http.Server{Addr: ctl, Handler: mux}).ListenAndServe() }()
	go func() { errc <- (&http.Server{Addr: addr, Handler: app}).ListenAndServe() }()
	return <-errc
}

type upstreamStats struct {
	Total      int64 `json:"total"`
	Identified int64 `json:"identified"`
}

// upstream is the harness's handle on the upstream process.
type upstream struct {
	*proc
	addr, ctl string
}

// CPUs for -pin.
const (
	loadCPU    = 0 // wrk and the upstream
	gatewayCPU = 1 // the gateway under test
)

// pinned prefixes argv with taskset when pin is set.
func pinned(pin bool, cpu int, argv ...string) []string {
	if !pin {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

func startUpstream(dir string, pin bool) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p1, err := freePort()
	if err != nil {
		return nil, err
	}
	p2, err := freePort()
	if err != nil {
		return nil, err
	}
	u := &upstream{addr: fmt.Sprintf("127.0.0.1:%d", p1), ctl: fmt.Sprintf("127.0.0.1:%d", p2)}
	u.proc, err = startProc("upstream", dir, pinned(pin, loadCPU, self, "upstream", "-addr", u.addr, "-ctl", u.ctl)...)
	if err != nil {
		return nil, err
	}
	if err := u.waitHTTP("http://" + u.ctl + "/stats"); err != nil {
		return nil, err
	}
	return u, u.waitHTTP("http://" + u.addr + "/")
}

func (u *upstream) stats(ctx context.Context) (upstreamStats, error) {
	var s upstreamStats
	return s, getJSON(ctx, "http://"+u.ctl+"/stats", &s)
}

// settle returns the upstream's counts once they stop moving (no change
// over 200 ms, at most 5 s).
func (u *upstream) settle(ctx context.Context) (upstreamStats, error) {
	last, err := u.stats(ctx)
	if err != nil {
		return last, err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		s, err := u.stats(ctx)
		if err != nil {
			return s, err
		}
		if s == last {
			return s, nil
		}
		last = s
	}
	return last, nil
}

func (u *upstream) lastProbe(ctx context.Context) (http.Header, error) {
	var h http.Header
	return h, getJSON(ctx, "http://"+u.ctl+"/probe", &h)
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
