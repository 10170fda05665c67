package orgadmin

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The org's SP keys (issue 12): a signing key and an encryption key, each
// rotated in two steps so that no sign-in fails in between. roll publishes
// a next key beside the current one (the SP metadata lists both, and
// either decrypts); once the IdP has the metadata again, retire drops the
// current key and the next becomes current. Admins see certificates and
// fingerprints, never the private keys.

// ErrKeyPublished is the rule that a use has one next key at a time.
var ErrKeyPublished = errors.New("a new key is already published; retire the old one first")

// ErrNothingToRetire is the rule that retire needs a next key.
var ErrNothingToRetire = errors.New("no new key to retire the old one for: roll first")

// SPKeys returns the org's SP keys as an admin sees them.
func (s *Service) SPKeys(ctx context.Context, org storage.Org) ([]tenant.SPKeyInfo, error) {
	keys, err := s.Store.SPKeys(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	return tenant.DescribeSPKeys(keys, s.now()), nil
}

// RollSPKeys publishes a next signing key and a next encryption key beside
// the current ones, making current keys first for an org that has none.
// A *tenant.RuleError (Err ErrKeyPublished) when a next key is published
// already.
func (s *Service) RollSPKeys(ctx context.Context, org storage.Org, a Actor) ([]tenant.SPKeyInfo, error) {
	before, err := s.Store.SPKeys(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	// Refused before the slow part (generating keys); the store checks
	// again in its write.
	for _, use := range tenant.SPKeyUses {
		if tenant.HasSPKey(before, use, storage.SPKeyNext) {
			return nil, &tenant.RuleError{Reason: ErrKeyPublished.Error(), Err: ErrKeyPublished}
		}
	}
	if _, err := tenant.EnsureSPKeys(ctx, s.Store, org, s.now()); err != nil {
		return nil, fmt.Errorf("making the current SP keys: %w", err)
	}
	next := make([]storage.SPKey, 0, len(tenant.SPKeyUses))
	for _, use := range tenant.SPKeyUses {
		k, err := tenant.NewSPKey(org.Name, use, s.now())
		if err != nil {
			return nil, err
		}
		next = append(next, k)
	}
	after, err := s.Store.RollSPKeys(ctx, org.ID, next)
	if errors.Is(err, storage.ErrConflict) {
		return nil, &tenant.RuleError{Reason: ErrKeyPublished.Error(), Err: ErrKeyPublished}
	}
	if err != nil {
		return nil, err
	}
	s.log().Info("rolled SP keys", zap.String("org", org.Name))
	b, af := s.spKeysDiff(before, after)
	s.Record(ctx, org, a, "sp_key.roll", "SP keys", b, af)
	return tenant.DescribeSPKeys(after, s.now()), nil
}

// RetireSPKeys makes each next key current, dropping the key it replaces:
// an IdP that still has only the old certificate can no longer encrypt to
// the SP or check its signatures. A *tenant.RuleError (Err
// ErrNothingToRetire) when no next key is published.
func (s *Service) RetireSPKeys(ctx context.Context, org storage.Org, a Actor) ([]tenant.SPKeyInfo, error) {
	before, err := s.Store.SPKeys(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	after, err := s.Store.RetireSPKeys(ctx, org.ID)
	if errors.Is(err, storage.ErrConflict) {
		return nil, &tenant.RuleError{Reason: ErrNothingToRetire.Error(), Err: ErrNothingToRetire}
	}
	if err != nil {
		return nil, err
	}
	s.log().Info("retired SP keys", zap.String("org", org.Name))
	b, af := s.spKeysDiff(before, after)
	s.Record(ctx, org, a, "sp_key.retire", "SP keys", b, af)
	return tenant.DescribeSPKeys(after, s.now()), nil
}

// spKeysDiff returns the keys that differ, before and after, as an audit
// event shows them: by fingerprint, as "signing", "signing_next", and so
// on; "" for none.
func (s *Service) spKeysDiff(a, b []storage.SPKey) (before, after map[string]any) {
	slots := func(keys []storage.SPKey) map[string]string {
		out := map[string]string{}
		for _, k := range tenant.DescribeSPKeys(keys, s.now()) {
			name := k.Use
			if k.State == storage.SPKeyNext {
				name += "_next"
			}
			out[name] = k.Fingerprint
		}
		return out
	}
	x, y := slots(a), slots(b)
	before, after = map[string]any{}, map[string]any{}
	for _, use := range tenant.SPKeyUses {
		for _, name := range []string{use, use + "_next"} {
			if x[name] != y[name] {
				before[name], after[name] = x[name], y[name]
			}
		}
	}
	return before, after
}
