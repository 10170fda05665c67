package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/tenant"
)

// ssogate's metrics, in Caddy's own Prometheus registry: served wherever
// the config serves Caddy's metrics (the admin endpoint's /metrics, or a
// metrics handler). The collectors live for the process, so counts survive
// a config reload; each config's registry gets them at provision.
var metrics = struct {
	signIns      *prometheus.CounterVec
	acsSeconds   prometheus.Histogram
	scimRequests *prometheus.CounterVec
	throttled    *prometheus.CounterVec
}{
	signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ssogate", Name: "sign_ins_total",
		Help: "Sign-ins by method (saml, password), outcome (success, refused) and refusal reason.",
	}, []string{"method", "outcome", "reason"}),
	acsSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ssogate", Name: "acs_duration_seconds",
		Help:    "Time to answer a SAML response posted to the ACS.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}),
	scimRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ssogate", Name: "scim_requests_total",
		Help: "Requests to the SCIM sidecar by resource (Users, Groups, api, …), method and status code.",
	}, []string{"resource", "method", "status"}),
	throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ssogate", Name: "throttled_total",
		Help: "Requests refused with 429 by endpoint (password, scim).",
	}, []string{"endpoint"}),
}

// registerMetrics adds ssogate's collectors to the config's registry,
// once per registry (several handlers provision in one config).
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.signIns, metrics.acsSeconds, metrics.scimRequests, metrics.throttled, sessionCacheStats{}} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return nil
}

// countSignIn counts one sign-in attempt's outcome.
func countSignIn(method string, ok bool, reason string) {
	outcome := "success"
	if !ok {
		outcome = "refused"
	}
	metrics.signIns.WithLabelValues(method, outcome, reason).Inc()
}

// observeACS records the time the ACS took since start.
func observeACS(start time.Time) {
	metrics.acsSeconds.Observe(time.Since(start).Seconds())
}

// scimResource is the metric label of a sidecar path: the SCIM resource
// type (Users, Groups, ServiceProviderConfig, …), "api" for the admin API,
// "other" for anything else, so that IDs never become labels.
func scimResource(path string) string {
	if rest, ok := strings.CutPrefix(path, "/scim/v2/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		switch name {
		case "Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me":
			return name
		}
		return "other"
	}
	if strings.HasPrefix(path, "/api/") {
		return "api"
	}
	return "other"
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// countSCIM counts one sidecar request.
func countSCIM(r *http.Request, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		method = "other"
	}
	metrics.scimRequests.WithLabelValues(scimResource(r.URL.Path), method, fmt.Sprint(status)).Inc()
	if status == http.StatusTooManyRequests {
		metrics.throttled.WithLabelValues("scim").Inc()
	}
}

// idpCertExpiry reports, at each scrape, the days until each SSO-enabled
// org's IdP signing certificates have all expired (the latest NotAfter:
// during a rotation the older one expiring is expected).
type idpCertExpiry struct {
	registry *tenant.Registry
}

var idpCertExpiryDesc = prometheus.NewDesc("ssogate_idp_certificate_expiry_days",
	"Days until the last of the org's IdP signing certificates expires (negative once expired).",
	[]string{"org"}, nil)

func (c idpCertExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- idpCertExpiryDesc }

func (c idpCertExpiry) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, t := range c.registry.All() {
		if !t.SSOEnabled() {
			continue
		}
		var last time.Time
		for _, cert := range sso.SigningCertificates(t.IDP) {
			if cert.NotAfter.After(last) {
				last = cert.NotAfter
			}
		}
		if last.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(idpCertExpiryDesc, prometheus.GaugeValue,
			last.Sub(now).Hours()/24, t.Org.Name)
	}
}

// registerAppMetrics adds the collectors that read the config's app.
func registerAppMetrics(ctx caddy.Context, app *App) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		idpCertExpiry{registry: app.Registry()},
		sessionsLive{gates: app.gates},
		feedLag{feed: app.shared.feed},
	} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return nil
}

// gateSessions are the session caches of one config's gates.
type gateSessions struct {
	mu   sync.Mutex
	list []*gate.Sessions
}

func (g *gateSessions) add(s *gate.Sessions) {
	g.mu.Lock()
	g.list = append(g.list, s)
	g.mu.Unlock()
}

// sessionsLive reports, at each scrape, how many sessions the config's
// gates hold in their caches: those signed in and active in this process
// (an idle session drops out of the cache before it expires).
type sessionsLive struct{ gates *gateSessions }

var sessionsLiveDesc = prometheus.NewDesc("ssogate_sessions_live",
	"Sessions held in the gates' caches of this process.", nil, nil)

func (c sessionsLive) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsLiveDesc }

func (c sessionsLive) Collect(ch chan<- prometheus.Metric) {
	c.gates.mu.Lock()
	n := 0
	for _, s := range c.gates.list {
		n += s.Cached()
	}
	c.gates.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(sessionsLiveDesc, prometheus.GaugeValue, float64(n))
}

// feedLag reports, at each scrape, how long ago the change feed was last
// read in full: how stale this process's view of changes made by others
// (a revocation, a deactivation) may be. It stays near the poll interval
// while the store answers and grows while it does not.
type feedLag struct{ feed *changeFeed }

var feedLagDesc = prometheus.NewDesc("ssogate_change_feed_lag_seconds",
	"Seconds since the change feed was last read in full.", nil, nil)

func (c feedLag) Describe(ch chan<- *prometheus.Desc) { ch <- feedLagDesc }

func (c feedLag) Collect(ch chan<- prometheus.Metric) {
	at := c.feed.readAt.Load()
	if at == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(feedLagDesc, prometheus.GaugeValue, time.Since(time.Unix(0, at)).Seconds())
}

// sessionCacheStats reports the gate's session cache hits and misses.
type sessionCacheStats struct{}

var (
	cacheHitsDesc = prometheus.NewDesc("ssogate_session_cache_hits_total",
		"Session lookups answered by the gate's cache.", nil, nil)
	cacheMissesDesc = prometheus.NewDesc("ssogate_session_cache_misses_total",
		"Session lookups that went to the store.", nil, nil)
)

func (sessionCacheStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
}

func (sessionCacheStats) Collect(ch chan<- prometheus.Metric) {
	hits, misses := gate.CacheStats()
	ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(misses))
}
