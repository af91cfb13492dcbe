package server

import (
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// countOutcome feeds the metrics beyond creditgate_webhooks_total that an outcome
// moves. Each counter means exactly what its name says:
//   - credits granted are new grants only: a backend 409 (credited before) adds none;
//   - a forward counts only when it reached the backend: not a Stripe API outage, not a
//     caller that hung up (result cancelled, which no outage alert watches);
//   - a deployment fault (backend 3xx, 401, 403, 404, ...) has its own counter, since
//     it fails every purchase alike until someone fixes the deployment.
func countOutcome(m *metrics.Metrics, route string, o pipeline.Outcome) {
	switch o.Result {
	case outcome.Forwarded:
		label := metrics.ForwardCredited
		if o.Reason == outcome.ReasonAlreadyCredited {
			label = metrics.ForwardAlreadyCredited
		} else {
			m.CreditsGranted.WithLabelValues(route).Add(float64(o.Credits))
			m.CreditsReversed.WithLabelValues(route).Add(float64(o.Reversed))
		}
		m.Forwards.WithLabelValues(route, label).Inc()
	case outcome.DeadLettered:
		m.DeadLettered.WithLabelValues(route, string(o.Reason)).Inc()
		if o.Reason == outcome.ReasonBackendRejected {
			m.Forwards.WithLabelValues(route, metrics.ForwardRejected).Inc()
		}
	case outcome.BackendUnavailable:
		switch o.Reason {
		case outcome.ReasonBackend:
			m.Forwards.WithLabelValues(route, metrics.ForwardUnavailable).Inc()
		case outcome.ReasonDeployment:
			m.Forwards.WithLabelValues(route, metrics.ForwardUnavailable).Inc()
			m.BackendDeploymentFaults.WithLabelValues(route).Inc()
		}
	case outcome.StoreUnavailable:
		m.StoreErrors.WithLabelValues(string(o.Reason)).Inc()
	}
}
