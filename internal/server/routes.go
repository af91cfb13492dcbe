package server

import (
	"net/http"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// NewWebhookHandler returns the webhook listener's handler: every configured route at
// its exact path (POST only), a route on "/" catching every other path, and JSON 404 /
// 405 answers for the rest. Nothing of the admin side is reachable here.
func NewWebhookHandler(d Deps) http.Handler {
	d.unauthLog = &logLimiter{perSecond: UnauthenticatedLogsPerSecond}
	byPath := make(map[string]http.Handler, len(d.Routes))
	var fallback http.Handler
	unrouted := d.routeMetrics("")
	for i := range d.Routes {
		rt := &d.Routes[i]
		h := handleWebhook(d, rt)
		if rt.Path == "/" {
			fallback = h
			continue
		}
		byPath[rt.Path] = h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h, ok := byPath[r.URL.Path]
		if !ok {
			h = fallback
		}
		if h == nil {
			// The same canonical line as a routed request, with route "".
			d.finish(w, r, unrouted, pipeline.Outcome{Result: outcome.NotFound, Detail: "no route for this path"}, "", start)
			return
		}
		h.ServeHTTP(w, r)
	})
}
