package server

import (
	"net/http"

	"github.com/creditgate/creditgate/internal/pipeline"
)

// NewWebhookHandler returns the webhook listener's handler: every configured route at
// its exact path (POST only), a route on "/" catching every other path, and JSON 404 /
// 405 answers for the rest. Nothing of the admin side is reachable here.
func NewWebhookHandler(d Deps) http.Handler {
	byPath := make(map[string]http.Handler, len(d.Routes))
	var fallback http.Handler
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
		h, ok := byPath[r.URL.Path]
		if !ok {
			h = fallback
		}
		if h == nil {
			d.logNoRoute(r, pipeline.NotFound)
			writeJSON(w, http.StatusNotFound, answer{Status: string(pipeline.NotFound)})
			return
		}
		h.ServeHTTP(w, r)
	})
}
