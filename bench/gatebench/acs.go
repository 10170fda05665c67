package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// acsResult holds the Go benchmark figures: name → metric unit → value.
type acsResult struct {
	metrics map[string]map[string]float64
	order   []string
}

// acsPhase runs the ACS and check-shape Go benchmarks from the source
// tree (the harness runs from the repository root) and keeps their
// figures.
func (b *bench) acsPhase(ctx context.Context) error {
	fmt.Println("\n== ACS: a full sign-in next to crewjam/saml's ParseResponse (go test -bench) ==")
	res := &acsResult{metrics: map[string]map[string]float64{}}
	for _, run := range []struct{ pkg, pattern string }{
		{"./caddymodule", "^BenchmarkACS$"},
		{"./internal/sso", "^BenchmarkCheckShape$"},
	} {
		args := []string{"test", "-run", "^$", "-bench", run.pattern, "-benchtime", b.cfg.benchtime, "-benchmem", run.pkg}
		fmt.Println("go", strings.Join(args, " "))
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "Benchmark") {
				continue
			}
			fmt.Println(line)
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			name := f[0]
			if i := strings.LastIndexByte(name, '-'); i > 0 {
				name = name[:i] // drop the GOMAXPROCS suffix
			}
			m := map[string]float64{}
			for i := 2; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					m[f[i+1]] = v
				}
			}
			res.metrics[name] = m
			res.order = append(res.order, name)
		}
	}
	b.report.acs = res
	return nil
}

func (a *acsResult) get(name, unit string) float64 {
	if a == nil || a.metrics[name] == nil {
		return 0
	}
	return a.metrics[name][unit]
}
