package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// storeRetryAfter is the Retry-After of the 503 a request gets while the
// store cannot write.
const storeRetryAfter = 30 * time.Second

// storeFailed answers a request whose write the store could not take
// (storage.ErrUnavailable) with 503 and a page, logging the cause once
// per episode; it reports whether err was such a failure. A sign-in's
// session and its assertion's one-time-use record are one transaction,
// so a failed sign-in spent nothing: the page's link starts a fresh one.
func (h *SSOHandler) storeFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(err, storage.ErrUnavailable) {
		return false
	}
	if h.outage == nil || h.outage.Fail() {
		h.logger.Error("the store cannot write; answering 503 until it can",
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(storeRetryAfter/time.Second)))
	msg, link := "We could not sign you in right now; try again in a minute.", h.PathPrefix+"/login?start=sso"
	switch sub := strings.TrimPrefix(r.URL.Path, h.PathPrefix); {
	case sub == "/logout" || strings.HasSuffix(sub, "/logout"):
		// Still signed in: saying otherwise would be a lie.
		msg, link = "We could not sign you out right now; try again in a minute.", ""
	case sub == "/admin" || strings.HasPrefix(sub, "/admin/"):
		msg, link = "We could not save this right now; try again in a minute.", ""
	}
	writePage(w, http.StatusServiceUnavailable, "Try again in a minute", msg, link)
	return true
}

// serveHealth is the readiness probe of load balancers and Kubernetes:
// 200 when the store can be read and written, else 503 with the reason.
// The probe runs at most once per healthEvery and process; the answers
// between reuse its outcome.
func (h *SSOHandler) serveHealth(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	probe := h.health
	if probe == nil {
		probe = new(healthProbe) // a handler not provisioned, in tests
	}
	reason := probe.check(r.Context(), h.store)
	w.Header().Set("Content-Type", "application/json")
	body := map[string]string{"status": "ok"}
	status := http.StatusOK
	if reason != "" {
		status = http.StatusServiceUnavailable
		body = map[string]string{"status": "unavailable", "reason": reason}
		w.Header().Set("Retry-After", strconv.Itoa(int(healthEvery/time.Second)))
	}
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(body)
}

// healthEvery is how long a probe's outcome stands.
const healthEvery = 2 * time.Second

// healthProbe is the store's last probe, shared by the gates of a
// process.
type healthProbe struct {
	mu     sync.Mutex
	at     time.Time
	reason string
}

// check returns "" when the store is readable and writable, else why
// not, probing again when the last probe is older than healthEvery.
func (p *healthProbe) check(ctx context.Context, st storage.SettingStore) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < healthEvery {
		return p.reason
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.reason = ""
	// A real write, small: one settings row, so that a full disk or a
	// read-only file shows here as it would at a sign-in.
	if err := st.PutSetting(ctx, "health.probe", []byte(strconv.FormatInt(time.Now().Unix(), 10))); err != nil {
		p.reason = "the store cannot write: " + sqlitestore.Cause(err)
	} else if _, err := st.Setting(ctx, "health.probe"); err != nil {
		p.reason = "the store cannot read: " + sqlitestore.Cause(err)
	}
	p.at = time.Now()
	return p.reason
}
