package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/sqlitestore"
)

type scimResult struct {
	creates, clients   int
	createTime         time.Duration
	createLat          []time.Duration
	members            int
	seedTime           time.Duration
	lookupLat, pageLat []time.Duration
	dbBytes            int64
	memBefore, mem     memInfo // the gateway's, before the phase and at the end
	createOthers       float64 // share of the CPUs other processes used during the creates
}

// scimPhase measures the scim_server site of the gate process over HTTP:
// users created per second by concurrent clients, then, with the org
// filled to -members straight through the database file, the userName
// filter and pages of 100.
func (b *bench) scimPhase(ctx context.Context) error {
	cfg := b.cfg
	fmt.Printf("\n== SCIM through the gate process's scim_server: %d creates by %d clients, then %d members ==\n", cfg.creates, cfg.clients, cfg.members)
	res := &scimResult{creates: cfg.creates, clients: cfg.clients}
	b.report.scim = res
	var err error
	if res.memBefore, err = memKiB(b.gate.pid()); err != nil {
		return err
	}
	token, err := scimToken(ctx, b.dbPath, "gatebench load")
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
			profErr <- fetchProfile(ctx, b.gate.admin, 2*time.Second, filepath.Join(b.dir, "scim-create.cpu.pprof"))
		}()
	} else {
		profErr <- nil
	}
	ours0, err1 := b.ourTicks()
	busy0, total0, err2 := machineTicks()
	if err := errors.Join(err1, err2); err != nil {
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
				code, resp, err := scimDo(cctx, client, http.MethodPost, b.scim+"/scim/v2/Users", token, []byte(body))
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
	if err := errors.Join(err1, err2); err != nil {
		return err
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
	fmt.Printf("POST /Users: %d users by %d clients in %v: %.0f users/s (other processes used %.0f%% of the CPUs)\n", cfg.creates, cfg.clients,
		res.createTime.Round(time.Millisecond), float64(cfg.creates)/res.createTime.Seconds(), 100*res.createOthers)

	// Fill the org to -members straight through the database file.
	seedStart := time.Now()
	emails, err := seedMembers(ctx, b.dbPath, cfg.members)
	if err != nil {
		return err
	}
	res.seedTime = time.Since(seedStart)
	res.members = len(emails)
	fmt.Printf("the org has %d members (filled through the database in %v)\n", res.members, res.seedTime.Round(time.Millisecond))

	lookup := func(email string) (time.Duration, error) {
		u := b.scim + "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+email+`"`)
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
		u := fmt.Sprintf("%s/scim/v2/Users?startIndex=%d&count=100", b.scim, startIndex)
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

	if res.mem, err = memKiB(b.gate.pid()); err != nil {
		return err
	}
	if res.dbBytes, err = dbSize(ctx, b.dbPath); err != nil {
		return err
	}
	fmt.Printf("database %.1f MiB after a checkpoint; gateway RSS %.0f MiB (anonymous %.0f, file-mapped %.0f; peak %.0f MiB; %.0f MiB before this phase)\n",
		float64(res.dbBytes)/(1<<20), mib(res.mem.rss), mib(res.mem.anon), mib(res.mem.file), mib(res.mem.hwm), mib(res.memBefore.rss))
	return nil
}

// seedMembers adds members shaped as SCIM creates them (the emails list in
// attrs, whose trigger fills the email index) until the org has n, in
// transactions of 10,000 rows, and returns every member's email. Through
// the store's CreateMember, a transaction each, this would take minutes;
// the write path is what the create rate measures.
func seedMembers(ctx context.Context, dbPath string, n int) ([]string, error) {
	st, err := sqlitestore.Open(ctx, dbPath) // migrations, and the org
	if err != nil {
		return nil, err
	}
	org, err := st.OrgByName(ctx, "acme")
	st.Close()
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var emails []string
	rows, err := db.QueryContext(ctx, "SELECT a.email FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.org_id = ?", org.ID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			rows.Close()
			return nil, err
		}
		emails = append(emails, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	for i := 0; len(emails) < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		account, err := tx.PrepareContext(ctx, "INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id")
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		member, err := tx.PrepareContext(ctx, `INSERT INTO memberships(id, org_id, account_id, given_name, family_name, active, attrs, created_at, updated_at)
			VALUES (?, ?, ?, 'Seed', ?, 1, ?, ?, ?)`)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		for batch := 0; batch < 10_000 && len(emails) < n; batch++ {
			email := fmt.Sprintf("seed%06d@acme.com", i)
			i++
			attrs := `{"emails":[{"primary":true,"type":"work","value":"` + email + `"}]}`
			var accountID int64
			if err := account.QueryRowContext(ctx, email, now).Scan(&accountID); err != nil {
				tx.Rollback()
				return nil, err
			}
			if _, err := member.ExecContext(ctx, uuid.NewString(), org.ID, accountID, fmt.Sprintf("Member %d", i), attrs, now, now); err != nil {
				tx.Rollback()
				return nil, err
			}
			emails = append(emails, email)
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	return emails, nil
}

// dbSize checkpoints the WAL into the database file and returns the size
// of the database, WAL included.
func dbSize(ctx context.Context, dbPath string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	_, _ = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	var total int64
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total, nil
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
