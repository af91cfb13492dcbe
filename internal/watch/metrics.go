package watch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, for the chart's alerts and dashboard.
const (
	MetricEnabled       = "creditgate_stripe_endpoint_enabled"
	MetricURLOK         = "creditgate_stripe_endpoint_url_ok"
	MetricMissingEvents = "creditgate_stripe_endpoint_missing_events"
	MetricUndelivered   = "creditgate_stripe_undelivered_events"
	MetricLastCheck     = "creditgate_stripe_watch_last_success_timestamp_seconds"
	MetricErrors        = "creditgate_stripe_watch_errors_total"
)

type gauges struct {
	enabled, urlOK, missing, undelivered, last *prometheus.GaugeVec
	errors                                     *prometheus.CounterVec
}

func newGauges(reg prometheus.Registerer) (*gauges, error) {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"route"})
	}
	m := &gauges{
		enabled:     g(MetricEnabled, "1 when the route's Stripe webhook endpoint exists and is enabled; 0 when Stripe disabled it or it is gone."),
		urlOK:       g(MetricURLOK, "1 when the route's Stripe webhook endpoint URL points at the route (path, and watch.public_url's origin when set)."),
		missing:     g(MetricMissingEvents, "Event types the route handles that its Stripe webhook endpoint does not send."),
		undelivered: g(MetricUndelivered, "Events of the route's types that Stripe failed to deliver within watch.window (at most 1000)."),
		last:        g(MetricLastCheck, "Unix time of the route's last successful Stripe watch check."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricErrors,
			Help: "Stripe watch checks that failed (API unreachable, key without read access to Webhook Endpoints or Events)."}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.enabled, m.urlOK, m.missing, m.undelivered, m.last, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *gauges) set(route string, st Status, now time.Time) {
	m.enabled.WithLabelValues(route).Set(b2f(st.Enabled))
	m.urlOK.WithLabelValues(route).Set(b2f(st.URLOK))
	m.missing.WithLabelValues(route).Set(float64(len(st.MissingEvents)))
	if st.Undelivered >= 0 {
		m.undelivered.WithLabelValues(route).Set(float64(st.Undelivered))
	}
	m.last.WithLabelValues(route).Set(float64(now.Unix()))
	m.errors.WithLabelValues(route).Add(0)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
