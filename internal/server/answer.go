package server

import (
	"encoding/json"
	"net/http"

	"github.com/creditgate/creditgate/internal/plainjson"
)

// answer is the JSON body of every response: the status word and, when known, the
// event id. It never carries an internal error, a secret or the payload.
type answer struct {
	Status  string `json:"status"`
	EventID string `json:"event_id,omitempty"`
}

// The answer's headers: the same values for every answer, shared (net/http only
// reads them).
var (
	headerJSON    = []string{"application/json"}
	headerNoStore = []string{"no-store"}
	headerNoSniff = []string{"nosniff"}
)

func writeJSON(w http.ResponseWriter, code int, a answer) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(code)
	_, _ = w.Write(a.appendJSON(make([]byte, 0, 48+len(a.Status)+len(a.EventID))))
}

// appendJSON appends json.Marshal(a) and a newline: by hand when both strings need no
// escaping (status words and Stripe's ids never do), else through encoding/json.
func (a answer) appendJSON(b []byte) []byte {
	if !plainjson.All(a.Status, a.EventID) {
		m, _ := json.Marshal(a)
		return append(append(b, m...), '\n')
	}
	b = plainjson.String(append(b, '{'), "status", a.Status)
	if a.EventID != "" {
		b = plainjson.String(append(b, ','), "event_id", a.EventID)
	}
	return append(b, "}\n"...)
}
