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
func countOutcome(rm *routeMetrics, o pipeline.Outcome) {
	m, route := rm.m, rm.route
	switch o.Result {
	case outcome.Forwarded:
		if o.Reason == outcome.ReasonAlreadyCredited {
			m.Forwards.WithLabelValues(route, metrics.ForwardAlreadyCredited).Inc()
			return
		}
		rm.newGrant(o.Credits, o.Reversed)
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
