package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type scimResult struct {
	store              string
	creates, clients   int
	createTime         time.Duration
	createLat          []time.Duration
	members            int
	seedTime           time.Duration
	lookupLat, pageLat []time.Duration
	dbBytes            int64
	dbBefore           int64   // the store's size before the phase: the schema and a few members
	memBefore, mem     memInfo // the gateway's, before the phase and at the end
	createOthers       float64 // share of the CPUs other processes used during the creates
	gateCPU, pgCPU     float64 // CPU µs per create: the gateway process's, PostgreSQL's
}

// scimPhase measures the scim_server site of each gate process over
// HTTP: users created per second by concurrent clients, then, with the
// org filled to -members straight through the database, the userName
// filter and pages of 100.
func (b *bench) scimPhase(ctx context.Context) error {
	for _, be := range b.stores {
		res := &scimResult{store: be.name, creates: b.cfg.creates, clients: b.cfg.clients}
		b.report.scim = append(b.report.scim, res)
		if err := b.scimOn(ctx, be, res); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	return nil
}

func (b *bench) scimOn(ctx context.Context, be *backend, res *scimResult) error {
	cfg := b.cfg
	fmt.Printf("\n== %s: SCIM through the gate process's scim_server: %d creates by %d clients, then %d members ==\n", be.name, cfg.creates, cfg.clients, cfg.members)
	var err error
	if res.memBefore, err = memKiB(be.gate.pid()); err != nil {
		return err
	}
	if res.dbBefore, err = be.size(ctx); err != nil {
		return err
	}
	token, err := be.scimToken(ctx, "gatebench load")
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.clients * 2, MaxIdleConnsPerHost: cfg.clients * 2, IdleConnTimeout: time.Minute,
	}}

	// Creates: each client POSTs the next user until all are made.
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	lat := make([]time.Duration, cfg.creates)
	var wg sync.WaitGroup
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	profErr := make(chan error, 1)
	if cfg.profile {
		// The creates take a few seconds: profile the first two.
		go func() {
			profErr <- fetchProfile(ctx, be.gate.admin, 2*time.Second, filepath.Join(b.dir, "scim-create-"+strings.ToLower(be.name)+".cpu.pprof"))
		}()
	} else {
		profErr <- nil
	}
	ours0, err1 := b.ourTicks()
	busy0, total0, err2 := machineTicks()
	gate0, err3 := cpuTicks(be.gate.pid())
	pg0 := postgresTicks()
	if err := errors.Join(err1, err2, err3); err != nil {
		cancel()
		return err
	}
	start := time.Now()
	for range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.creates || cctx.Err() != nil {
					return
				}
				email := fmt.Sprintf("load%06d@acme.com", i)
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"Load","familyName":"User %d"},"emails":[{"primary":true,"value":%q,"type":"work"}],"active":true}`, email, i, email)
				t0 := time.Now()
				code, resp, err := scimDo(cctx, client, http.MethodPost, be.scim+"/scim/v2/Users", token, []byte(body))
				lat[i] = time.Since(t0)
				if err == nil && code != http.StatusCreated {
					err = fmt.Errorf("POST /Users = %d %s", code, resp)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	res.createTime = time.Since(start)
	cancel()
	ours1, err1 := b.ourTicks()
	busy1, total1, err2 := machineTicks()
	gate1, err3 := cpuTicks(be.gate.pid())
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	// CPU per create: the gateway's, and PostgreSQL's server processes'
	// (on this machine), which tell what each side would need alone.
	res.gateCPU = float64(gate1-gate0) * 1e6 / clockTicks / float64(cfg.creates)
	if be.postgres() {
		res.pgCPU = float64(postgresTicks()-pg0) * 1e6 / clockTicks / float64(cfg.creates)
	}
	if total1 > total0 {
		// The harness's own clients count as ours.
		res.createOthers = max(float64((busy1-busy0)-(ours1-ours0)), 0) / float64(total1-total0)
	}
	if firstErr != nil {
		return firstErr
	}
	if err := <-profErr; err != nil {
		return fmt.Errorf("profiling the creates: %w", err)
	}
	res.createLat = lat
	fmt.Printf("POST /Users: %d users by %d clients in %v: %.0f users/s; CPU per create: gateway %.0f µs, PostgreSQL %.0f µs (other processes used %.0f%% of the CPUs)\n", cfg.creates, cfg.clients,
		res.createTime.Round(time.Millisecond), float64(cfg.creates)/res.createTime.Seconds(), res.gateCPU, res.pgCPU, 100*res.createOthers)

	// Fill the org to -members straight through the database.
	seedStart := time.Now()
	emails, err := be.seedMembers(ctx, cfg.members)
	if err != nil {
		return err
	}
	res.seedTime = time.Since(seedStart)
	res.members = len(emails)
	fmt.Printf("the org has %d members (filled through the database in %v)\n", res.members, res.seedTime.Round(time.Millisecond))

	lookup := func(email string) (time.Duration, error) {
		u := be.scim + "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+email+`"`)
		t0 := time.Now()
		code, body, err := scimDo(ctx, client, http.MethodGet, u, token, nil)
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		var l listResponse
		if err := json.Unmarshal(body, &l); err != nil || code != http.StatusOK || l.TotalResults != 1 || len(l.Resources) != 1 {
			return 0, fmt.Errorf("filter userName eq %s = %d %.300s", email, code, body)
		}
		return d, nil
	}
	if res.lookupLat, err = sample(min(200, len(emails)), cfg.lookups, func() (time.Duration, error) {
		return lookup(emails[rand.IntN(len(emails))])
	}); err != nil {
		return err
	}
	fmt.Printf("GET /Users?filter=userName eq …: %d sequential requests, p50 %v, p99 %v\n", cfg.lookups,
		pct(res.lookupLat, 50).Round(time.Microsecond), pct(res.lookupLat, 99).Round(time.Microsecond))

	page := func(startIndex int) (time.Duration, error) {
		u := fmt.Sprintf("%s/scim/v2/Users?startIndex=%d&count=100", be.scim, startIndex)
		t0 := time.Now()
		code, body, err := scimDo(ctx, client, http.MethodGet, u, token, nil)
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		var l listResponse
		if err := json.Unmarshal(body, &l); err != nil || code != http.StatusOK || len(l.Resources) != 100 || l.TotalResults < res.members {
			return 0, fmt.Errorf("page at %d = %d, %d resources of %d", startIndex, code, len(l.Resources), l.TotalResults)
		}
		return d, nil
	}
	if res.pageLat, err = sample(20, cfg.pages, func() (time.Duration, error) {
		return page(1 + rand.IntN(res.members-100))
	}); err != nil {
		return err
	}
	fmt.Printf("GET /Users?startIndex=N&count=100: %d sequential requests at random N, p50 %v, p99 %v\n", cfg.pages,
		pct(res.pageLat, 50).Round(time.Microsecond), pct(res.pageLat, 99).Round(time.Microsecond))

	if res.mem, err = memKiB(be.gate.pid()); err != nil {
		return err
	}
	if res.dbBytes, err = be.size(ctx); err != nil {
		return err
	}
	fmt.Printf("database %.1f MiB after a checkpoint; gateway RSS %.0f MiB (anonymous %.0f, file-mapped %.0f; peak %.0f MiB; %.0f MiB before this phase)\n",
		float64(res.dbBytes)/(1<<20), mib(res.mem.rss), mib(res.mem.anon), mib(res.mem.file), mib(res.mem.hwm), mib(res.memBefore.rss))
	return nil
}

// pct returns the p-th percentile (nearest rank) of ds.
// sample calls f warm times unrecorded (to warm connections and caches),
// then n times, and returns those n durations.
func sample(warm, n int, f func() (time.Duration, error)) ([]time.Duration, error) {
	for range warm {
		if _, err := f(); err != nil {
			return nil, err
		}
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		d, err := f()
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s)) + 0.5)
	if i > 0 {
		i--
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
