package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Checker is what /readyz asks: the store and the dead-letter list answer.
type Checker interface {
	VerifyConnection(ctx context.Context) error
}

// ReadyTimeout bounds one readiness check.
const ReadyTimeout = time.Second

// NewAdminHandler serves /healthz (process alive), /readyz (config loaded and every
// checker reachable) and /metrics. It must never be reachable from the internet.
func NewAdminHandler(gatherer prometheus.Gatherer, checkers ...Checker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, answer{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		for _, c := range checkers {
			if err := c.VerifyConnection(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, answer{Status: "store_unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, answer{Status: "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}
