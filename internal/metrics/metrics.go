// Package metrics defines every Prometheus metric creditgate exports (docs/design.md §8): the
// creditgate_ prefix, _total counters, _seconds histograms, and labels bounded to
// route, result, reason and outcome — never an id. A golden file in testdata keeps the
// names stable.
package metrics

import (
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors. Build it with New; the zero value is not usable.
type Metrics struct {
	Webhooks        *prometheus.CounterVec   // route, result
	WebhookDuration *prometheus.HistogramVec // route, result
	Forwards        *prometheus.CounterVec   // route, outcome
	ForwardDuration *prometheus.HistogramVec // route
	DeadLettered    *prometheus.CounterVec   // route, reason
	CreditsGranted  *prometheus.CounterVec   // route
	CreditsReversed *prometheus.CounterVec   // route
	StoreErrors     *prometheus.CounterVec   // part
	// BackendDeploymentFaults counts backend answers that are faults of the
	// deployment (3xx, 401, 403, 404, ...): answered 503 so Stripe retries. Route.
	BackendDeploymentFaults *prometheus.CounterVec
	ConfigReloadOK          prometheus.Gauge
	ConfigReloadAt          prometheus.Gauge
	ConfigReloads           *prometheus.CounterVec // result: success, failure
	DeadLetterQueue         *prometheus.GaugeVec   // route, reason
	BuildInfo               *prometheus.GaugeVec   // version
}

// DeadLetterReasons are the reason labels of creditgate_dead_lettered_total and
// creditgate_dead_letters: every reason an event is parked with (outcome.Parked).
// InitRoute creates them at 0, so an alert on increase() sees the first one.
var DeadLetterReasons = outcome.Strings(outcome.Parked)

// The outcome labels of creditgate_forwards_total: how a forward that reached the
// backend ended.
const (
	ForwardCredited        = "credited"
	ForwardAlreadyCredited = "already_credited"
	ForwardRejected        = "rejected"
	ForwardUnavailable     = "unavailable"
)

// ForwardOutcomes lists them; InitRoute creates them at 0.
var ForwardOutcomes = []string{ForwardCredited, ForwardAlreadyCredited, ForwardRejected, ForwardUnavailable}

// ReloadResults are the result labels of creditgate_config_reloads_total.
var ReloadResults = []string{"success", "failure"}

// StoreParts are the part labels of creditgate_store_errors_total: the dedup store
// and the dead-letter list, the reasons of store_unavailable. New creates them at 0.
var StoreParts = outcome.Strings([]outcome.Reason{outcome.ReasonStore, outcome.ReasonDeadLetter})

// Buckets for answer times: a webhook should take milliseconds; the forward budget is
// seconds.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New creates the collectors and registers them (and the Go and process collectors)
// on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_webhooks_total",
			Help: "Webhook deliveries answered, by route and result (the status word sent to Stripe).",
		}, []string{"route", "result"}),
		WebhookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "creditgate_webhook_duration_seconds",
			Help:    "Time from request to answer, by route and result.",
			Buckets: durationBuckets,
		}, []string{"route", "result"}),
		Forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_forwards_total",
			Help: "Forwards to the backend, by route and outcome (credited, already_credited, rejected, unavailable).",
		}, []string{"route", "outcome"}),
		ForwardDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "creditgate_forward_duration_seconds",
			Help:    "Time spent forwarding one credit, all attempts included.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_dead_lettered_total",
			Help: "Deliveries parked in the dead-letter list, by route and reason.",
		}, []string{"route", "reason"}),
		CreditsGranted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_credits_granted_total",
			Help: "Credits delivered to the backend, by route.",
		}, []string{"route"}),
		CreditsReversed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_credits_reversed_total",
			Help: "Credits taken back from users by refunds and disputes (credit.reversed delivered to the backend), by route.",
		}, []string{"route"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_store_errors_total",
			Help: "Deliveries answered 503 because the dedup store or dead-letter list failed, by part.",
		}, []string{"part"}),
		BackendDeploymentFaults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_backend_deployment_faults_total",
			Help: "Backend answers that are deployment faults (3xx, 401, 403, 404 and other 4xx that do not park), answered 503 so Stripe retries, by route.",
		}, []string{"route"}),
		ConfigReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "creditgate_config_last_reload_successful",
			Help: "1 if the last configuration load succeeded.",
		}),
		ConfigReloadAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "creditgate_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful configuration load.",
		}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_config_reloads_total",
			Help: "Configuration reloads (SIGHUP or a changed file), by result: success, or failure (the old configuration keeps serving).",
		}, []string{"result"}),
		DeadLetterQueue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "creditgate_dead_letters",
			Help: "Entries waiting in the dead-letter list, by route and reason, as of the scrape.",
		}, []string{"route", "reason"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "creditgate_build_info",
			Help: "Always 1; the version label says which build runs.",
		}, []string{"version"}),
	}
	reg.MustRegister(m.Webhooks, m.WebhookDuration, m.Forwards, m.ForwardDuration,
		m.DeadLettered, m.CreditsGranted, m.CreditsReversed, m.StoreErrors, m.ConfigReloadOK, m.ConfigReloadAt,
		m.ConfigReloads, m.DeadLetterQueue, m.BuildInfo, m.BackendDeploymentFaults,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.BuildInfo.WithLabelValues(version).Set(1)
	for _, p := range StoreParts {
		m.StoreErrors.WithLabelValues(p)
	}
	for _, r := range ReloadResults {
		m.ConfigReloads.WithLabelValues(r)
	}
	return m
}

// InitRoute creates the series of a route with value 0, so dashboards and alerts see
// them before the first event.
func (m *Metrics) InitRoute(route string, results []string) {
	for _, r := range results {
		m.Webhooks.WithLabelValues(route, r)
	}
	for _, o := range ForwardOutcomes {
		m.Forwards.WithLabelValues(route, o)
	}
	for _, r := range DeadLetterReasons {
		m.DeadLettered.WithLabelValues(route, r)
		m.DeadLetterQueue.WithLabelValues(route, r)
	}
	m.CreditsGranted.WithLabelValues(route)
	m.CreditsReversed.WithLabelValues(route)
	m.BackendDeploymentFaults.WithLabelValues(route)
}

// SetDeadLetters replaces creditgate_dead_letters with counts (route → reason →
// entries). Every reason of every route in routes is exported, at 0 when nothing of
// it waits; an entry of a route or reason not listed (a route removed from the config,
// an entry written by hand) is exported too, so the gauge always adds up to the list.
func (m *Metrics) SetDeadLetters(routes []string, counts map[string]map[string]int) {
	m.DeadLetterQueue.Reset()
	for _, route := range routes {
		for _, r := range DeadLetterReasons {
			m.DeadLetterQueue.WithLabelValues(route, r)
		}
	}
	for route, byReason := range counts {
		for reason, n := range byReason {
			m.DeadLetterQueue.WithLabelValues(route, reason).Set(float64(n))
		}
	}
}
