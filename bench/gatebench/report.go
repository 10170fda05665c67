package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	machine     string
	targets     []*target
	pairs       [][]pairRun // side by side, per gate target
	pairRetries int
	deact       []*deactRun
	scim        []*scimResult
	signin      []*signinResult
	acs         *acsResult
}

func numCPU() int { return runtime.NumCPU() }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (t *target) series(f func(measured) float64) []float64 {
	out := make([]float64, len(t.runs))
	for i, m := range t.runs {
		out[i] = f(m)
	}
	return out
}

// paired applies f to each round's run of t and of the baseline.
func paired(t, base *target, f func(m, b measured) float64) []float64 {
	n := min(len(t.runs), len(base.runs))
	out := make([]float64, n)
	for i := range n {
		out[i] = f(t.runs[i], base.runs[i])
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func (r *report) print(cfg *config) {
	fmt.Println()
	fmt.Println("# Results")
	fmt.Println()
	fmt.Println(r.machine + "; load average at the end " + loadAvg())
	if len(r.targets) > 0 {
		base := r.targets[0]
		fmt.Printf("\n## Gate vs bare Caddy (wrk -t%d -c%d, %d alternating rounds of %v, medians; ratios are per round, then the median)\n\n",
			cfg.threads, cfg.conns, len(base.runs), cfg.duration)
		fmt.Println("| in front of the same upstream | req/s | p50 | p99 | CPU µs/request | throughput vs bare | CPU over bare | p99 vs bare |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for i, t := range r.targets {
			rps := median(t.series(func(m measured) float64 { return m.wrk.rps() }))
			p50 := median(t.series(func(m measured) float64 { return m.wrk.P50US }))
			p99 := median(t.series(func(m measured) float64 { return m.wrk.P99US }))
			cpu := median(t.series(func(m measured) float64 { return m.cpuUS }))
			ratio, over, p99r := "1.00", "—", "1.00"
			if i > 0 {
				ratio = fmt.Sprintf("%.3f", median(paired(t, base, func(m, b measured) float64 { return m.wrk.rps() / b.wrk.rps() })))
				over = fmt.Sprintf("%+.1f µs", median(paired(t, base, func(m, b measured) float64 { return m.cpuUS - b.cpuUS })))
				p99r = fmt.Sprintf("%.2f", median(paired(t, base, func(m, b measured) float64 { return m.wrk.P99US / b.wrk.P99US })))
			}
			fmt.Printf("| %s | %.0f | %s | %s | %.1f | %s | %s | %s |\n", t.name, rps, us(p50), us(p99), cpu, ratio, over, p99r)
		}
		fmt.Println()
		for _, t := range r.targets[1:] {
			if t.aa {
				fmt.Printf("- %s: throughput %.3f, CPU %+.1f µs/request, p99 %.2f×: what this method reads on this machine when nothing differs\n", t.name,
					median(paired(t, base, func(m, b measured) float64 { return m.wrk.rps() / b.wrk.rps() })),
					median(paired(t, base, func(m, b measured) float64 { return m.cpuUS - b.cpuUS })),
					median(paired(t, base, func(m, b measured) float64 { return m.wrk.P99US / b.wrk.P99US })))
			}
			if t.control || t.aa {
				continue
			}
			ratio := median(paired(t, base, func(m, b measured) float64 { return m.wrk.rps() / b.wrk.rps() }))
			over := median(paired(t, base, func(m, b measured) float64 { return m.cpuUS - b.cpuUS }))
			p99r := median(paired(t, base, func(m, b measured) float64 { return m.wrk.P99US / b.wrk.P99US }))
			fmt.Printf("- %s: throughput %.3f of bare (target ≥ 0.95: %s); CPU %+.1f µs/request (target ≤ +8 µs: %s); p99 %.2f× bare (target ≤ 1.1×: %s)\n",
				t.name, ratio, verdict(ratio >= 0.95), over, verdict(over <= 8), p99r, verdict(p99r <= 1.1))
			for _, c := range r.targets {
				if c.control && c.teams == t.teams {
					fmt.Printf("  - against its control (bare Caddy setting the same headers): throughput %.3f, CPU %+.1f µs/request, p99 %.2f×: the gate's own work, apart from carrying the headers\n",
						median(paired(t, c, func(m, b measured) float64 { return m.wrk.rps() / b.wrk.rps() })),
						median(paired(t, c, func(m, b measured) float64 { return m.cpuUS - b.cpuUS })),
						median(paired(t, c, func(m, b measured) float64 { return m.wrk.P99US / b.wrk.P99US })))
				}
			}
		}
		var total int64
		for _, t := range r.targets {
			for _, m := range t.runs {
				total += m.wrk.Requests
			}
		}
		retried, others := 0, []float64{}
		for _, t := range r.targets {
			retried += t.retried
			for _, m := range t.runs {
				others = append(others, 100*m.others)
			}
		}
		fmt.Printf("- every run checked: %d requests, all answered 200 by the upstream, whose own count matched wrk's (±%d in flight at the stop); through the gate each carried the identity\n", total, cfg.conns)
		fmt.Printf("- other processes used a median %.0f%% (max %.0f%%) of the CPUs during the kept runs; %d runs were measured again because they used more than %.0f%%\n",
			median(others), slices.Max(others), retried, 100*cfg.maxOthers)
	}
	if len(r.pairs) > 0 && len(r.pairs[0]) > 0 {
		fmt.Printf("\n## Side by side: bare Caddy and the gate driven at once (wrk -t%d -c%d each, %d rounds of %v; medians of per-round ratios)\n\n",
			cfg.threads, max(cfg.conns/2, 1), len(r.pairs[0]), cfg.duration)
		fmt.Println("| gate | req/s (bare) | throughput vs bare | CPU µs/request (bare) | CPU over bare | p99 (bare) | p99 vs bare |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, ps := range r.pairs {
			var rps, rpsB, ratio, cpu, cpuB, over, p99, p99B, p99r []float64
			for _, p := range ps {
				rps, rpsB = append(rps, p.gate.wrk.rps()), append(rpsB, p.bare.wrk.rps())
				ratio = append(ratio, p.gate.wrk.rps()/p.bare.wrk.rps())
				cpu, cpuB = append(cpu, p.gate.cpuUS), append(cpuB, p.bare.cpuUS)
				over = append(over, p.gate.cpuUS-p.bare.cpuUS)
				p99, p99B = append(p99, p.gate.wrk.P99US), append(p99B, p.bare.wrk.P99US)
				p99r = append(p99r, p.gate.wrk.P99US/p.bare.wrk.P99US)
			}
			fmt.Printf("| %s | %.0f (%.0f) | %.3f | %.1f (%.1f) | %+.1f µs | %s (%s) | %.2f |\n", ps[0].name,
				median(rps), median(rpsB), median(ratio), median(cpu), median(cpuB), median(over), us(median(p99)), us(median(p99B)), median(p99r))
		}
	}
	if r.pairRetries > 0 {
		fmt.Printf("\n- %d side-by-side runs were measured again because other processes used more than %.0f%% of the CPUs\n", r.pairRetries, 100*cfg.maxOthers)
	}
	if len(r.deact) > 0 {
		fmt.Printf("\n## Deactivation in another process to refusal at the gate (%d trials, SCIM PATCH active:false on a sidecar process)\n\n", cfg.trials)
		head, rule := "| from |", "| --- |"
		for _, d := range r.deact {
			head += fmt.Sprintf(" %s median | %s max |", d.store, d.store)
			rule += " ---: | ---: |"
		}
		fmt.Println(head)
		fmt.Println(rule)
		for _, row := range []struct {
			label string
			f     func(deactResult) time.Duration
		}{
			{"sending the PATCH", func(d deactResult) time.Duration { return d.fromSend }},
			{"the PATCH's answer", func(d deactResult) time.Duration { return d.fromAnswer }},
		} {
			line := "| " + row.label + " |"
			for _, d := range r.deact {
				v := make([]float64, len(d.trials))
				for i, t := range d.trials {
					v[i] = float64(row.f(t)) / float64(time.Millisecond)
				}
				line += fmt.Sprintf(" %.1f ms | %.1f ms |", median(v), slices.Max(v))
			}
			fmt.Println(line)
		}
		fmt.Println()
		for _, d := range r.deact {
			worst := time.Duration(0)
			for _, t := range d.trials {
				worst = max(worst, t.fromSend)
			}
			fmt.Printf("- %s: target ≤ 1 s (≤ 250 ms on PostgreSQL's change feed): %s (worst %.0f ms)\n", d.store,
				verdict(worst <= time.Second && (d.store != "PostgreSQL" || worst <= 250*time.Millisecond)), float64(worst)/float64(time.Millisecond))
		}
	}
	if len(r.scim) > 0 {
		ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
		fmt.Printf("\n## SCIM over HTTP through the gateway's scim_server\n\n")
		head, rule := "| figure |", "| --- |"
		for _, s := range r.scim {
			head += " " + s.store + " |"
			rule += " ---: |"
		}
		fmt.Println(head + " target |")
		fmt.Println(rule + " --- |")
		s0 := r.scim[0]
		row := func(label string, f func(*scimResult) string, target string, ok func(*scimResult) bool) {
			line := "| " + label + " |"
			verdicts := []string{}
			for _, s := range r.scim {
				line += " " + f(s) + " |"
				if ok != nil {
					verdicts = append(verdicts, s.store+" "+verdict(ok(s)))
				}
			}
			if target != "" {
				target += ": " + strings.Join(verdicts, ", ")
			}
			fmt.Println(line + " " + target + " |")
		}
		rate := func(s *scimResult) float64 { return float64(s.creates) / s.createTime.Seconds() }
		row(fmt.Sprintf("users created per second (POST /Users, %d concurrent clients, %d users)", s0.clients, s0.creates),
			func(s *scimResult) string { return fmt.Sprintf("%.0f /s", rate(s)) }, "≥ 1,500 /s", func(s *scimResult) bool { return rate(s) >= 1500 })
		row("other processes' share of the CPUs during the creates",
			func(s *scimResult) string { return fmt.Sprintf("%.0f%%", 100*s.createOthers) }, "", nil)
		row("CPU per create: the gateway process / PostgreSQL's processes",
			func(s *scimResult) string {
				if s.pgCPU == 0 {
					return fmt.Sprintf("%.0f µs", s.gateCPU)
				}
				return fmt.Sprintf("%.0f µs / %.0f µs", s.gateCPU, s.pgCPU)
			}, "", nil)
		row("create latency p50 / p99",
			func(s *scimResult) string { return ms(pct(s.createLat, 50)) + " / " + ms(pct(s.createLat, 99)) }, "", nil)
		row(fmt.Sprintf("`filter=userName eq \"…\"` at %d members, p50 / p99 (%d sequential)", s0.members, len(s0.lookupLat)),
			func(s *scimResult) string { return ms(pct(s.lookupLat, 50)) + " / " + ms(pct(s.lookupLat, 99)) },
			"p99 < 2 ms", func(s *scimResult) bool { return pct(s.lookupLat, 99) < 2*time.Millisecond })
		row(fmt.Sprintf("page of 100 (`startIndex=N&count=100`, random N), p50 / p99 (%d sequential)", len(s0.pageLat)),
			func(s *scimResult) string { return ms(pct(s.pageLat, 50)) + " / " + ms(pct(s.pageLat, 99)) },
			"p99 < 10 ms", func(s *scimResult) bool { return pct(s.pageLat, 99) < 10*time.Millisecond })
		row(fmt.Sprintf("database size at %d members (SQLite: file and WAL after a checkpoint; PostgreSQL: pg_database_size), and before the phase", s0.members),
			func(s *scimResult) string {
				return fmt.Sprintf("%.1f MiB (%.1f before)", float64(s.dbBytes)/(1<<20), float64(s.dbBefore)/(1<<20))
			}, "", nil)
		row("gateway RSS at that size: own memory + mapped files (its executable) = RSS; peak",
			func(s *scimResult) string {
				return fmt.Sprintf("%.0f + %.0f = %.0f MiB; peak %.0f", mib(s.mem.anon), mib(s.mem.file), mib(s.mem.rss), mib(s.mem.hwm))
			}, "", nil)
	}
	if len(r.signin) > 0 {
		fmt.Printf("\n## Sign-ins at the ACS through the binary (logins minted at the test IdP first; %d posted by %d concurrent clients; each a 303 with a session)\n\n", r.signin[0].n, r.signin[0].conc)
		fmt.Println("| store | sign-ins/s | p50 | p99 | other processes' share of the CPUs |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: |")
		for _, s := range r.signin {
			fmt.Printf("| %s | %.0f | %.2f ms | %.2f ms | %.0f%% |\n", s.store, float64(s.n)/s.elapsed.Seconds(),
				float64(pct(s.lat, 50))/1e6, float64(pct(s.lat, 99))/1e6, 100*s.others)
		}
	}
	if a := r.acs; a != nil && len(a.order) > 0 {
		ms := func(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
		parse := a.get("BenchmarkACS/full-vs-ParseResponse", "parse-p50-ns")
		full := a.get("BenchmarkACS/full-vs-ParseResponse", "full-p50-ns")
		fmt.Printf("\n## ACS: a full sign-in vs crewjam/saml ParseResponse alone (go test -bench; a fresh test-IdP response per op: RSA-2048, response and assertion signed; medians of alternating ops)\n\n")
		fmt.Println("| step | time/op | share of ParseResponse |")
		fmt.Println("| --- | ---: | ---: |")
		if parse > 0 {
			fmt.Printf("| crewjam ParseForm + ParseResponse alone (no replay cache) | %s | 1.00 |\n", ms(parse))
			fmt.Printf("| full sign-in: serveACS (form, tracker cookie, shape check, ParseXMLResponse with the replay check, time window, domain, member, session and replay record in one write, cookie) | %s | %.2f |\n", ms(full), full/parse)
		}
		for _, row := range []struct{ name, label string }{
			{"BenchmarkCheckShape", "of which the shape check (base64 decode and byte scan)"},
			{"BenchmarkACS/admit", "of which the domain and member reads (SQLite; alone, so with warm caches)"},
			{"BenchmarkACS/session-issue", "of which the session and replay record (one SQLite transaction) and cookie"},
		} {
			if ns := a.get(row.name, "ns/op"); ns > 0 && parse > 0 {
				fmt.Printf("| %s | %s | %.2f |\n", row.label, ms(ns), ns/parse)
			}
		}
		if parse > 0 {
			fmt.Printf("\nThe two first rows ran side by side, alternating each op. Run one after the other: ParseResponse %s, ParseACS %s, full %s.\n",
				ms(a.get("BenchmarkACS/ParseResponse", "ns/op")), ms(a.get("BenchmarkACS/ParseACS", "ns/op")), ms(a.get("BenchmarkACS/full", "ns/op")))
			fmt.Printf("\n- target ≤ 1.2× ParseResponse: %s (%.3f×)\n", verdict(full/parse <= 1.2), full/parse)
		}
	}
}
