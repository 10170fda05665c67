package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/storage"
)

// target is one configuration driven by wrk.
type target struct {
	name       string
	g          *gateway
	cookie     string // the Cookie header value sent by wrk
	identified bool   // every request must reach the upstream with the identity
	teams      int
	retried    int    // runs measured again because of other work
	control    bool   // bare Caddy setting the gate's headers itself
	aa         bool   // a second bare Caddy: the method's own spread
	store      string // the gate's store, when not SQLite
	runs       []measured
}

// measured is one checked wrk run.
type measured struct {
	wrk      wrkResult
	upstream int64   // requests the upstream counted during the run
	cpuUS    float64 // gateway CPU per request, µs
	load     string  // the machine's load average at the start
	others   float64 // share of the machine's CPU used by other processes during the run
}

func (b *bench) gatePhase(ctx context.Context) error {
	cfg := b.cfg
	fmt.Println("\n== gate: bare reverse_proxy vs saml_sso, wrk -t", cfg.threads, "-c", cfg.conns, "==")
	alice, err := login(b.gate.url, b.idpURL, "alice@acme.com")
	if err != nil {
		return fmt.Errorf("signing in alice: %w", err)
	}
	bob, err := login(b.gate.url, b.idpURL, "bob@acme.com")
	if err != nil {
		return fmt.Errorf("signing in bob: %w", err)
	}
	fmt.Println("signed in alice and bob through the test IdP (SP-initiated, real ACS)")
	seedStart := time.Now()
	if err := b.stores[0].seedTeams(ctx, map[string]int{"alice@acme.com": 1, "bob@acme.com": cfg.teams}); err != nil {
		return err
	}
	fmt.Printf("seeded teams through the store in %v: alice in 1, bob in %d\n", time.Since(seedStart).Round(time.Millisecond), cfg.teams)

	// The gate process learns of the new teams from the change feed; wait
	// until the headers show them, which also proves both sessions work.
	for _, c := range []struct {
		cookie string
		email  string
		teams  int
	}{{alice, "alice@acme.com", 1}, {bob, "bob@acme.com", cfg.teams}} {
		if err := b.waitGroups(ctx, b.gate, c.cookie, c.email, c.teams); err != nil {
			return err
		}
	}
	// The other stores' gates: alice, in 1 team. The request path reads
	// no store, so their figures should match SQLite's.
	otherCookies := map[*backend]string{}
	for _, be := range b.stores[1:] {
		c, err := login(be.gate.url, b.idpURL, "alice@acme.com")
		if err != nil {
			return fmt.Errorf("%s: signing in alice: %w", be.name, err)
		}
		if err := be.seedTeams(ctx, map[string]int{"alice@acme.com": 1}); err != nil {
			return err
		}
		if err := b.waitGroups(ctx, be.gate, c, "alice@acme.com", 1); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
		otherCookies[be] = c
	}
	// Bare Caddy gets the same Cookie header and passes no identity.
	if code, err := status(http.DefaultClient, b.bare.url+"/__probe", alice); err != nil || code != http.StatusOK {
		return fmt.Errorf("bare probe = %d, %v", code, err)
	}
	if h, err := b.up.lastProbe(ctx); err != nil || h.Get("X-Forwarded-User") != "" {
		return fmt.Errorf("bare Caddy passed an identity (%v, %v)", h, err)
	}
	// Without a cookie the gate refuses, and never reaches the upstream.
	if code, err := status(http.DefaultClient, b.gate.url+"/", ""); err != nil || code != http.StatusUnauthorized {
		return fmt.Errorf("gate without a session = %d, %v; want 401", code, err)
	}

	w, err := newWrk(b.dir, cfg.threads, cfg.conns, cfg.pin)
	if err != nil {
		return err
	}
	cookie := func(v string) string { return gate.CookieName + "=" + v }
	targets := []*target{
		{name: "bare Caddy reverse_proxy", g: b.bare, cookie: cookie(alice)},
		{name: "saml_sso, member in 1 team", g: b.gate, cookie: cookie(alice), identified: true, teams: 1},
		{name: fmt.Sprintf("saml_sso, member in %d teams", cfg.teams), g: b.gate, cookie: cookie(bob), identified: true, teams: cfg.teams},
	}
	for _, be := range b.stores[1:] {
		targets = append(targets, &target{name: "saml_sso on " + be.name + ", member in 1 team", g: be.gate, cookie: cookie(otherCookies[be]), identified: true, teams: 1, store: be.name})
	}
	if cfg.aa {
		targets = append(targets, &target{name: "A/A: a second bare Caddy", g: b.bare2, cookie: cookie(alice), aa: true})
	}
	if cfg.control {
		// The controls: bare Caddy setting, with request_header, the very
		// headers the gate sets for each member. Against them, what is
		// left is the gate's own work; against bare Caddy, also the cost
		// of carrying the headers to the app.
		for _, c := range []struct {
			cookie string
			teams  int
		}{{alice, 1}, {bob, cfg.teams}} {
			if _, err := status(http.DefaultClient, b.gate.url+"/__probe", c.cookie); err != nil {
				return err
			}
			h, err := b.up.lastProbe(ctx)
			if err != nil {
				return err
			}
			g, err := b.startControl(h, c.teams)
			if err != nil {
				return err
			}
			targets = append(targets, &target{name: fmt.Sprintf("control: bare + the same headers, %d team(s)", c.teams),
				g: g, cookie: cookie(c.cookie), identified: true, teams: c.teams, control: true})
		}
	}
	if cfg.warmup >= time.Second {
		for _, t := range targets {
			if _, err := b.measure(ctx, w, t, cfg.warmup, ""); err != nil {
				return fmt.Errorf("warm-up of %s: %w", t.name, err)
			}
		}
		fmt.Printf("warmed up each configuration for %v\n", cfg.warmup)
	}
	for r := 0; r < cfg.rounds; r++ {
		// Rotate the order so that no configuration always runs first.
		order := make([]*target, len(targets))
		for i := range targets {
			order[i] = targets[(i+r)%len(targets)]
		}
		for _, t := range order {
			profile := ""
			if cfg.profile && r == 0 {
				profile = filepath.Join(b.dir, fmt.Sprintf("%s-%dteams.cpu.pprof", t.g.name, t.teams))
			}
			m, err := b.measure(ctx, w, t, cfg.duration, profile)
			// Other work on the machine skews a run: measure again, a few
			// times at most, while others used more than -max-others of it.
			for try := 1; err == nil && m.others > cfg.maxOthers && try <= cfg.retries; try++ {
				fmt.Printf("round %d/%d  %-48s other processes used %.0f%% of the CPUs: measuring again (%d/%d)\n",
					r+1, cfg.rounds, t.name, 100*m.others, try, cfg.retries)
				t.retried++
				time.Sleep(2 * time.Second)
				m, err = b.measure(ctx, w, t, cfg.duration, "")
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
			t.runs = append(t.runs, m)
			fmt.Printf("round %d/%d  %-48s %6.0f req/s  p50 %7s  p99 %7s  %6.1f µs CPU/req  (wrk %d, upstream %d; others %.0f%%)\n",
				r+1, cfg.rounds, t.name, m.wrk.rps(), us(m.wrk.P50US), us(m.wrk.P99US), m.cpuUS, m.wrk.Requests, m.upstream, 100*m.others)
			if cfg.verbose {
				fmt.Println(m.wrk.Output)
			}
		}
	}
	b.report.targets = targets
	if cfg.concurrent {
		return b.concurrentRounds(ctx, targets)
	}
	return nil
}

// pairRun is one side-by-side run: bare Caddy and a gate driven at once,
// each by its own wrk with half the connections, so that whatever else
// slows the machine in those seconds slows both.
type pairRun struct {
	name       string // the gate's
	bare, gate measured
}

// concurrentRounds drives bare Caddy and each gate configuration at the
// same time, -rounds times.
func (b *bench) concurrentRounds(ctx context.Context, targets []*target) error {
	cfg := b.cfg
	half := max(cfg.conns/2, 1)
	w, err := newWrk(b.dir, cfg.threads, half, cfg.pin)
	if err != nil {
		return err
	}
	fmt.Printf("\n== side by side: bare Caddy and the gate driven at once, wrk -t%d -c%d each ==\n", cfg.threads, half)
	var gates []*target
	for _, t := range targets[1:] {
		if !t.control && !t.aa {
			gates = append(gates, t)
		}
	}
	b.report.pairs = make([][]pairRun, len(gates))
	for r := 0; r < cfg.rounds; r++ {
		for i, t := range gates {
			p, err := b.measurePair(ctx, w, targets[0], t, cfg.duration)
			for try := 1; err == nil && p.gate.others > cfg.maxOthers && try <= cfg.retries; try++ {
				fmt.Printf("round %d/%d  side by side with %s: other processes used %.0f%% of the CPUs: measuring again (%d/%d)\n",
					r+1, cfg.rounds, t.name, 100*p.gate.others, try, cfg.retries)
				b.report.pairRetries++
				time.Sleep(2 * time.Second)
				p, err = b.measurePair(ctx, w, targets[0], t, cfg.duration)
			}
			if err != nil {
				return fmt.Errorf("side by side round %d, %s: %w", r+1, t.name, err)
			}
			b.report.pairs[i] = append(b.report.pairs[i], p)
			fmt.Printf("round %d/%d  bare %6.0f req/s %6.1f µs CPU/req p99 %7s | %-32s %6.0f req/s %6.1f µs CPU/req p99 %7s  (others %.0f%%)\n",
				r+1, cfg.rounds, p.bare.wrk.rps(), p.bare.cpuUS, us(p.bare.wrk.P99US),
				t.name, p.gate.wrk.rps(), p.gate.cpuUS, us(p.gate.wrk.P99US), 100*p.gate.others)
		}
	}
	return nil
}

// measurePair runs wrk against bare and gate at once and checks both runs
// as measure does, telling their upstream requests apart by the identity.
func (b *bench) measurePair(ctx context.Context, w *wrkRunner, bare, gt *target, d time.Duration) (pairRun, error) {
	s0, err := b.up.stats(ctx)
	if err != nil {
		return pairRun{}, err
	}
	cb0, err1 := cpuTicks(bare.g.pid())
	cg0, err2 := cpuTicks(gt.g.pid())
	ours0, err3 := b.ourTicks()
	busy0, total0, err4 := machineTicks()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return pairRun{}, err
	}
	var wb, wg wrkResult
	var eb, eg error
	var wgr sync.WaitGroup
	wgr.Add(2)
	go func() { defer wgr.Done(); wb, eb = w.run(ctx, bare.g.url+"/", bare.cookie, d) }()
	go func() { defer wgr.Done(); wg, eg = w.run(ctx, gt.g.url+"/", gt.cookie, d) }()
	wgr.Wait()
	if err := errors.Join(eb, eg); err != nil {
		return pairRun{}, err
	}
	busy1, total1, err4 := machineTicks()
	ours1, err3 := b.ourTicks()
	cb1, err1 := cpuTicks(bare.g.pid())
	cg1, err2 := cpuTicks(gt.g.pid())
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return pairRun{}, err
	}
	s1, err := b.up.settle(ctx)
	if err != nil {
		return pairRun{}, err
	}
	p := pairRun{
		name: gt.name,
		bare: measured{wrk: wb, upstream: (s1.Total - s0.Total) - (s1.Identified - s0.Identified)},
		gate: measured{wrk: wg, upstream: s1.Identified - s0.Identified},
	}
	if total1 > total0 {
		others := (busy1 - busy0) - (ours1 - ours0) - wb.CPUTicks - wg.CPUTicks
		p.bare.others = max(float64(others), 0) / float64(total1-total0)
		p.gate.others = p.bare.others
	}
	for _, s := range []struct {
		m      *measured
		c0, c1 int64
		name   string
	}{{&p.bare, cb0, cb1, bare.name}, {&p.gate, cg0, cg1, gt.name}} {
		res := s.m.wrk
		if res.Requests == 0 {
			return p, fmt.Errorf("%s: wrk completed no request:\n%s", s.name, res.Output)
		}
		s.m.cpuUS = float64(s.c1-s.c0) * 1e6 / clockTicks / float64(res.Requests)
		if res.errors() != 0 {
			return p, fmt.Errorf("%s: wrk saw errors (connect %d, read %d, write %d, status>=400 %d, timeout %d):\n%s",
				s.name, res.Connect, res.Read, res.Write, res.Status, res.Timeout, res.Output)
		}
		if s.m.upstream < res.Requests || s.m.upstream > res.Requests+int64(w.conns) {
			return p, fmt.Errorf("%s: the upstream counted %d requests, wrk %d", s.name, s.m.upstream, res.Requests)
		}
	}
	return p, nil
}

// measure runs wrk against t once and checks the run: no wrk errors, no
// status >= 400, the upstream saw what wrk counted (plus at most the
// requests in flight when wrk stopped), and through the gate every one of
// them carried the identity.
func (b *bench) measure(ctx context.Context, w *wrkRunner, t *target, d time.Duration, profile string) (measured, error) {
	s0, err := b.up.stats(ctx)
	if err != nil {
		return measured{}, err
	}
	load := strings.Fields(loadAvg())[0]
	c0, err := cpuTicks(t.g.pid())
	if err != nil {
		return measured{}, err
	}
	ours0, err := b.ourTicks()
	if err != nil {
		return measured{}, err
	}
	busy0, total0, err := machineTicks()
	if err != nil {
		return measured{}, err
	}
	profErr := make(chan error, 1)
	if profile != "" {
		go func() { profErr <- fetchProfile(ctx, t.g.admin, d-2*time.Second, profile) }()
	} else {
		profErr <- nil
	}
	res, err := w.run(ctx, t.g.url+"/", t.cookie, d)
	if err != nil {
		return measured{}, err
	}
	busy1, total1, err := machineTicks()
	if err != nil {
		return measured{}, err
	}
	ours1, err := b.ourTicks()
	if err != nil {
		return measured{}, err
	}
	c1, err := cpuTicks(t.g.pid())
	if err != nil {
		return measured{}, err
	}
	// Requests in flight when wrk stopped may still reach the upstream:
	// wait until its count settles, so that they count for this run.
	s1, err := b.up.settle(ctx)
	if err != nil {
		return measured{}, err
	}
	if err := <-profErr; err != nil {
		return measured{}, fmt.Errorf("profiling: %w", err)
	}
	m := measured{wrk: res, upstream: s1.Total - s0.Total, load: load}
	if total1 > total0 {
		others := (busy1 - busy0) - (ours1 - ours0) - res.CPUTicks
		m.others = max(float64(others), 0) / float64(total1-total0)
	}
	if res.Requests == 0 {
		return m, fmt.Errorf("wrk completed no request:\n%s", res.Output)
	}
	m.cpuUS = float64(c1-c0) * 1e6 / clockTicks / float64(res.Requests)
	if res.errors() != 0 {
		return m, fmt.Errorf("wrk saw errors (connect %d, read %d, write %d, status>=400 %d, timeout %d):\n%s",
			res.Connect, res.Read, res.Write, res.Status, res.Timeout, res.Output)
	}
	if m.upstream < res.Requests || m.upstream > res.Requests+int64(b.cfg.conns) {
		return m, fmt.Errorf("the upstream counted %d requests, wrk %d: every response must come from the upstream", m.upstream, res.Requests)
	}
	ident := s1.Identified - s0.Identified
	if t.identified && ident != m.upstream {
		return m, fmt.Errorf("%d of %d requests reached the upstream without the identity", m.upstream-ident, m.upstream)
	}
	if !t.identified && ident != 0 {
		return m, fmt.Errorf("%d requests reached the upstream with an identity through bare Caddy", ident)
	}
	return m, nil
}

// ourTicks is the CPU time of the harness and every process it started
// (but wrk, counted from its own rusage).
func (b *bench) ourTicks() (int64, error) {
	n, err := cpuTicks(os.Getpid())
	if err != nil {
		return 0, err
	}
	if len(b.stores) > 1 {
		n += postgresTicks()
	}
	childrenMu.Lock()
	ps := append([]*proc(nil), children...)
	childrenMu.Unlock()
	for _, p := range ps {
		select {
		case <-p.done:
			continue
		default:
		}
		if t, err := cpuTicks(p.pid()); err == nil {
			n += t
		}
	}
	return n, nil
}

func fetchProfile(ctx context.Context, admin string, d time.Duration, path string) error {
	if admin == "" {
		return fmt.Errorf("no admin endpoint")
	}
	if d < time.Second {
		d = time.Second
	}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	fmt.Println("CPU profile:", path)
	return f.Close()
}

// startControl starts bare Caddy setting the identity headers of h
// (request_header, static values) and, as the gate does, keeping the
// Cookie header from the upstream, before reverse_proxy.
func (b *bench) startControl(h http.Header, teams int) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var lines []string
	for _, k := range []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Name", "X-Forwarded-Groups", "X-Forwarded-Role", "X-Forwarded-Org"} {
		v := h.Get(k)
		if v == "" || strings.ContainsAny(v, "\"{}\\\n") {
			return nil, fmt.Errorf("probe header %s = %q cannot go into a Caddyfile", k, v)
		}
		lines = append(lines, fmt.Sprintf("\trequest_header %s \"%s\"", k, v))
	}
	lines = append(lines, "\trequest_header -Cookie")
	admin := "off"
	if b.cfg.profile {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		admin = fmt.Sprintf("127.0.0.1:%d", p)
	}
	name := fmt.Sprintf("control%d", teams)
	cfg := b.plainConfig(name, admin, url, strings.Join(lines, "\n"))
	return b.startGateway(name, cfg, url, admin)
}

// seedTeams puts each member in n teams, through the store on the gate's
// database file, as an admin or a SCIM push would: one team "Engineering"
// for a single team, "team-001".. otherwise.
func (be *backend) seedTeams(ctx context.Context, teams map[string]int) error {
	return be.withStore(ctx, func(st storage.Store, org storage.Org) error { return seedTeams(ctx, st, org, teams) })
}

func seedTeams(ctx context.Context, st storage.Store, org storage.Org, teams map[string]int) error {
	for email, n := range teams {
		m, err := st.MemberByEmail(ctx, org.ID, email)
		if err != nil {
			return fmt.Errorf("member %s: %w", email, err)
		}
		prefix := strings.SplitN(email, "@", 2)[0]
		for i := 1; i <= n; i++ {
			name := "Engineering"
			if n > 1 {
				name = fmt.Sprintf("%s-team-%03d", prefix, i)
			}
			t, err := st.CreateTeam(ctx, org.ID, name, "")
			if err != nil {
				return fmt.Errorf("team %s: %w", name, err)
			}
			if _, err := st.UpdateTeam(ctx, org.ID, t.ID, func(t *storage.Team) error {
				t.MemberIDs = append(t.MemberIDs, m.ID)
				return nil
			}); err != nil {
				return fmt.Errorf("team %s: %w", name, err)
			}
		}
	}
	return nil
}

// waitGroups waits (at most 5 s) until a request with cookie reaches the
// upstream as email in n teams.
func (b *bench) waitGroups(ctx context.Context, g *gateway, cookie, email string, n int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, err := status(http.DefaultClient, g.url+"/__probe", cookie)
		if err != nil {
			return err
		}
		h, err := b.up.lastProbe(ctx)
		if err != nil {
			return err
		}
		got := 0
		if g := h.Get("X-Forwarded-Groups"); g != "" {
			got = len(strings.Split(g, ","))
		}
		if code == http.StatusOK && h.Get("X-Forwarded-User") == email && got == n {
			fmt.Printf("the gate passes %s in %d teams (X-Forwarded-Groups: %d bytes)\n", email, n, len(h.Get("X-Forwarded-Groups")))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 5 s the gate passes %d with user %q in %d teams; want %s in %d", code, h.Get("X-Forwarded-User"), got, email, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// us formats microseconds as a short duration.
func us(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fms", v/1000)
	}
	return fmt.Sprintf("%.0fµs", v)
}
