package caddymodule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// collectGauges returns the values of the gauges c reports.
func collectGauges(t *testing.T, c prometheus.Collector) []float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 8)
	c.Collect(ch)
	close(ch)
	var out []float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		out = append(out, pb.GetGauge().GetValue())
	}
	return out
}

// TestFeedLag: the gauge is the time since the last full read, and absent
// before the first one.
func TestFeedLag(t *testing.T) {
	f := &changeFeed{}
	if got := collectGauges(t, feedLag{feed: f}); len(got) != 0 {
		t.Errorf("before any read: %v, want no series", got)
	}
	f.readAt.Store(time.Now().Add(-3 * time.Second).UnixNano())
	if got := collectGauges(t, feedLag{feed: f}); len(got) != 1 || got[0] < 3 || got[0] > 4 {
		t.Errorf("lag = %v, want about 3 s", got)
	}
}

// TestSessionsLiveEmpty: a config without gates reports zero, not nothing.
func TestSessionsLiveEmpty(t *testing.T) {
	if got := collectGauges(t, sessionsLive{gates: &gateSessions{}}); len(got) != 1 || got[0] != 0 {
		t.Errorf("sessions_live = %v, want [0]", got)
	}
}
