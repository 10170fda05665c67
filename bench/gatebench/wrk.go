package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkScript only adds a done() callback, which wrk calls once at the end:
// it prints the summary as one JSON line. A response() callback would run
// Lua on every response and weaken the load generator, so non-2xx
// responses are counted from wrk's own summary (errors.status counts every
// status >= 400; a 3xx would not reach the upstream, which the count check
// catches).
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`

type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`
	Timeout    int64   `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P90US      float64 `json:"p90_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
	MeanUS     float64 `json:"mean_us"`
	Output     string  `json:"-"`
	CPUTicks   int64   `json:"-"` // wrk's own user+system time
}

func (r wrkResult) rps() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

func (r wrkResult) errors() int64 { return r.Connect + r.Read + r.Write + r.Status + r.Timeout }

type wrkRunner struct {
	bin     string
	script  string
	threads int
	conns   int
	pin     bool
}

func newWrk(dir string, threads, conns int, pin bool) (*wrkRunner, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("wrk is not installed (bench/run.sh installs it: apt-get install -y wrk): %w", err)
	}
	script := filepath.Join(dir, "summary.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o600); err != nil {
		return nil, err
	}
	return &wrkRunner{bin: bin, script: script, threads: threads, conns: conns, pin: pin}, nil
}

// run drives url for d with the cookie header, bounded by d plus a margin.
func (w *wrkRunner) run(ctx context.Context, url, cookie string, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	args := []string{
		"-t" + strconv.Itoa(w.threads), "-c" + strconv.Itoa(w.conns),
		"-d" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s",
		"--latency", "--timeout", "5s", "-s", w.script,
	}
	if cookie != "" {
		args = append(args, "-H", "Cookie: "+cookie)
	}
	args = append(args, url)
	argv := pinned(w.pin, loadCPU, append([]string{w.bin}, args...)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var ticks int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
		ticks = us * clockTicks / 1e6
	}
	var res wrkResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	found := false
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "WRKJSON "); ok {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return wrkResult{}, fmt.Errorf("wrk summary %q: %w", line, err)
			}
			found = true
		}
	}
	if !found {
		return wrkResult{}, fmt.Errorf("wrk printed no summary:\n%s", out)
	}
	res.Output = string(out)
	res.CPUTicks = ticks
	return res, nil
}
