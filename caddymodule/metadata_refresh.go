package caddymodule

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/spkey"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// orgUpkeep keeps the orgs' own IdP connections fresh, in each process:
//
//   - an org whose connection names an idp_metadata_url gets it fetched
//     again every refreshEvery (the first time at a random moment within
//     the first hour, so replicas and restarts spread out); a good copy
//     that differs replaces the one kept in the store (certificate
//     rollover), a failure keeps it and tries again with backoff;
//   - once a day, IdP signing certificates and SP keys that expire within
//     30 days are named in the log.
//
// A Caddyfile's own idp_metadata_url is refreshed by its handler; an org
// whose metadata URL a Caddyfile pins is left to it.
type orgUpkeep struct {
	store        storage.Store
	registry     *tenant.Registry
	logger       *zap.Logger
	allowPrivate *atomic.Bool
	refreshEvery time.Duration

	mu   sync.Mutex
	next map[int64]*orgRefresh // by org ID
}

// orgRefresh is when an org's metadata is fetched next, and how far its
// backoff went.
type orgRefresh struct {
	url     string
	at      time.Time
	backoff *backoff
}

const upkeepTick = time.Minute

func newOrgUpkeep(st storage.Store, reg *tenant.Registry, logger *zap.Logger, allowPrivate *atomic.Bool) *orgUpkeep {
	return &orgUpkeep{store: st, registry: reg, logger: logger, allowPrivate: allowPrivate,
		refreshEvery: 24 * time.Hour, next: map[int64]*orgRefresh{}}
}

// run does the upkeep until ctx ends.
func (u *orgUpkeep) run(ctx context.Context) {
	tick := time.NewTicker(upkeepTick)
	defer tick.Stop()
	daily := time.NewTicker(24 * time.Hour)
	defer daily.Stop()
	u.warnExpiring(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			u.refreshDue(ctx, now)
		case now := <-daily.C:
			u.warnExpiring(ctx, now)
		}
	}
}

// refreshDue fetches the metadata of every org whose turn it is.
func (u *orgUpkeep) refreshDue(ctx context.Context, now time.Time) {
	all := u.registry.All()
	u.mu.Lock()
	for id := range u.next { // orgs gone from the registry
		if !slices.ContainsFunc(all, func(t *tenant.Tenant) bool { return t.Org.ID == id }) {
			delete(u.next, id)
		}
	}
	u.mu.Unlock()
	for _, t := range all {
		if ctx.Err() != nil {
			return
		}
		c := t.Conn
		if !t.HasConn || c.IDPMetadataURL == "" || c.IsPinned(tenant.FieldIDPMetadataURL) {
			continue
		}
		u.mu.Lock()
		r := u.next[t.Org.ID]
		if r == nil || r.url != c.IDPMetadataURL {
			// First seen (or a new URL, fetched just now by the admin's
			// change): spread the first refresh over the hour.
			r = &orgRefresh{url: c.IDPMetadataURL, backoff: newBackoff(u.refreshEvery),
				at: now.Add(rand.N(time.Hour))}
			u.next[t.Org.ID] = r
		}
		due := !now.Before(r.at)
		u.mu.Unlock()
		if due {
			ok := u.refresh(ctx, t, now)
			u.mu.Lock()
			r.at = now.Add(r.backoff.next(ok))
			u.mu.Unlock()
		}
	}
}

// refresh fetches one org's metadata and keeps a good, changed copy.
func (u *orgUpkeep) refresh(ctx context.Context, t *tenant.Tenant, now time.Time) bool {
	fields := []zap.Field{zap.String("org", t.Org.Name), zap.String("idp_metadata_url", t.Conn.IDPMetadataURL)}
	data, err := tenant.FetchMetadata(tenant.MetadataClient(u.allowPrivate.Load()))(ctx, t.Conn.IDPMetadataURL)
	if err == nil {
		err = tenant.CheckRefreshedMetadata(t.Conn, data, now)
	}
	if err != nil {
		if ctx.Err() == nil {
			u.logger.Warn("refreshing an organization's IdP metadata; keeping the previous copy", append(fields, zap.Error(err))...)
		}
		return false
	}
	_, err = u.store.ModifyConnection(ctx, t.Org.ID, func(c *storage.Connection) error {
		// Only the document moves; the admin's settings and the state stay.
		if c.IDPMetadataURL != t.Conn.IDPMetadataURL || c.IDPMetadataXML == string(data) {
			return tenant.ErrUnchanged
		}
		c.IDPMetadataXML = string(data)
		return nil
	})
	switch {
	case errors.Is(err, tenant.ErrUnchanged):
	case err != nil:
		u.logger.Warn("keeping an organization's refreshed IdP metadata", append(fields, zap.Error(err))...)
		return false
	default:
		u.logger.Info("refreshed an organization's IdP metadata", fields...)
	}
	return true
}

// warnExpiring names, in the log, the IdP signing certificates and SP
// keys of orgs with SSO enabled that expire within expiryWarning.
func (u *orgUpkeep) warnExpiring(ctx context.Context, now time.Time) {
	for _, t := range u.registry.All() {
		if !t.SSOEnabled() || ctx.Err() != nil {
			continue
		}
		for _, c := range sso.SigningCertificates(t.IDP) {
			warnCertificate(u.logger, now, "IdP signing certificate", t.Org.Name, c)
		}
		keys, err := u.store.SPKeys(ctx, t.Org.ID)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if pair, err := spkey.Parse([]byte(k.CertificatePEM), []byte(k.KeyPEM)); err == nil {
				warnCertificate(u.logger, now, "SP "+k.Use+" certificate (ssogate sso keys roll)", t.Org.Name, pair.Cert)
			}
		}
	}
}
