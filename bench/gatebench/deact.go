package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/storage"
)

// deactResult is one trial: from sending the PATCH (and from its answer)
// to the gate's first 401 for the session.
type deactResult struct {
	fromSend, fromAnswer time.Duration
}

// deactRun is the deactivation trials on one store.
type deactRun struct {
	store  string
	trials []deactResult
}

// deactPhase starts the SCIM sidecar as its own ssogate process on each
// gate's database, and measures how long a deactivation made there takes
// to end a live session at the gate.
func (b *bench) deactPhase(ctx context.Context) error {
	for _, be := range b.stores {
		run := &deactRun{store: be.name}
		b.report.deact = append(b.report.deact, run)
		if err := b.deactOn(ctx, be, run); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	return nil
}

func (b *bench) deactOn(ctx context.Context, be *backend, run *deactRun) error {
	fmt.Printf("\n== %s: deactivation in another process to refusal at the gate ==\n", be.name)
	token, err := be.scimToken(ctx, "gatebench deact")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	sidecarURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	name := "sidecar-" + strings.ToLower(be.name)
	cfgPath := filepath.Join(b.dir, name+".Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(b.ssogateConfig(name, "off", be, "", sidecarURL)), 0o600); err != nil {
		return err
	}
	side, err := startProc(name, filepath.Join(b.dir, name+"-home"), b.bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	if err != nil {
		return err
	}
	defer side.stop()
	if err := side.waitHTTP(sidecarURL + "/"); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var id string
	for trial := 1; trial <= b.cfg.trials; trial++ {
		cookie, err := login(be.gate.url, b.idpURL, "carol@acme.com")
		if err != nil {
			return fmt.Errorf("trial %d: signing in carol: %w", trial, err)
		}
		if code, err := status(client, be.gate.url+"/", cookie); err != nil || code != http.StatusOK {
			return fmt.Errorf("trial %d: carol's session = %d, %v", trial, code, err)
		}
		if id == "" {
			if id, err = scimUserID(ctx, client, sidecarURL, token, "carol@acme.com"); err != nil {
				return err
			}
		}
		// Let the gate settle on a cached session, and start each trial at
		// a different point of its 250 ms change-feed poll.
		time.Sleep(time.Duration(50+37*trial%250) * time.Millisecond)
		start := time.Now()
		if err := scimSetActive(ctx, client, sidecarURL, token, id, false); err != nil {
			return fmt.Errorf("trial %d: %w", trial, err)
		}
		answered := time.Now()
		var refused time.Time
		for time.Since(start) < 5*time.Second {
			code, err := status(client, be.gate.url+"/", cookie)
			if err != nil {
				return err
			}
			if code == http.StatusUnauthorized {
				refused = time.Now()
				break
			}
			if code != http.StatusOK {
				return fmt.Errorf("trial %d: the gate answered %d", trial, code)
			}
			time.Sleep(time.Millisecond)
		}
		if refused.IsZero() {
			return fmt.Errorf("trial %d: the gate still accepts the session 5 s after the deactivation", trial)
		}
		r := deactResult{fromSend: refused.Sub(start), fromAnswer: refused.Sub(answered)}
		run.trials = append(run.trials, r)
		fmt.Printf("trial %2d: refused %v after the PATCH was sent (%v after its answer)\n", trial,
			r.fromSend.Round(100*time.Microsecond), r.fromAnswer.Round(100*time.Microsecond))
		if err := scimSetActive(ctx, client, sidecarURL, token, id, true); err != nil {
			return fmt.Errorf("trial %d: reactivating: %w", trial, err)
		}
		if code, err := status(client, be.gate.url+"/", cookie); err != nil || code != http.StatusUnauthorized {
			return fmt.Errorf("trial %d: the old session after reactivation = %d, %v; want 401", trial, code, err)
		}
	}
	return nil
}

// scimToken creates a SCIM token for org acme in the store.
func (be *backend) scimToken(ctx context.Context, name string) (string, error) {
	tok, hash, err := apitoken.New()
	if err != nil {
		return "", err
	}
	err = be.withStore(ctx, func(st storage.Store, org storage.Org) error {
		_, err := st.CreateToken(ctx, org.ID, name, storage.ScopeSCIM, hash)
		return err
	})
	return tok, err
}

// scimDo sends a SCIM request and returns the status and the body.
func scimDo(ctx context.Context, c *http.Client, method, rawURL, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, data, err
}

type listResponse struct {
	TotalResults int `json:"totalResults"`
	Resources    []struct {
		ID       string `json:"id"`
		UserName string `json:"userName"`
	} `json:"Resources"`
}

func scimUserID(ctx context.Context, c *http.Client, base, token, email string) (string, error) {
	code, body, err := scimDo(ctx, c, http.MethodGet, base+"/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), token, nil)
	if err != nil {
		return "", err
	}
	var l listResponse
	if err := json.Unmarshal(body, &l); err != nil || code != http.StatusOK || len(l.Resources) != 1 {
		return "", fmt.Errorf("finding %s over SCIM = %d %s", email, code, body)
	}
	return l.Resources[0].ID, nil
}

func scimSetActive(ctx context.Context, c *http.Client, base, token, id string, active bool) error {
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":%t}}]}`, active)
	code, resp, err := scimDo(ctx, c, http.MethodPatch, base+"/scim/v2/Users/"+id, token, []byte(body))
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("PATCH active:%t = %d %s", active, code, resp)
	}
	return nil
}
