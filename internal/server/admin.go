package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
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
// checker reachable) and /metrics. It must never be reachable from the internet. The
// answer never says why a check failed; the log does, once per change (log may be
// nil: nothing is logged).
func NewAdminHandler(gatherer prometheus.Gatherer, log *slog.Logger, checkers ...Checker) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu   sync.Mutex
		last = "" // the last readiness error, "" when ready (or never checked)
	)
	changed := func(err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case msg == last:
		case err != nil:
			log.Warn("not ready", "error", err)
		default:
			log.Info("ready again")
		}
		last = msg
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, answer{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		for _, c := range checkers {
			if err := c.VerifyConnection(ctx); err != nil {
				changed(err)
				writeJSON(w, http.StatusServiceUnavailable, answer{Status: "store_unavailable"})
				return
			}
		}
		changed(nil)
		writeJSON(w, http.StatusOK, answer{Status: "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}
