package server

import (
	"encoding/json"
	"net/http"
)

// answer is the JSON body of every response: the status word and, when known, the
// event id. It never carries an internal error, a secret or the payload.
type answer struct {
	Status  string `json:"status"`
	EventID string `json:"event_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, a answer) {
	b, _ := json.Marshal(a)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
