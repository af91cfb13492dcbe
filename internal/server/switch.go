package server

import (
	"net/http"
	"sync/atomic"
)

// Switch is an http.Handler whose target can be replaced while it serves: the hot
// reload builds a new webhook handler (routes, secrets, keys) and swaps it in. A
// request runs entirely on the handler that was current when it arrived, so a webhook
// in flight during a reload finishes on the config it started with, and no request
// ever sees a mix of two configs. Build it with NewSwitch.
type Switch struct {
	h atomic.Pointer[http.Handler]
}

// NewSwitch returns a Switch serving h.
func NewSwitch(h http.Handler) *Switch {
	s := &Switch{}
	s.Swap(h)
	return s
}

// Swap makes h the handler of every request that arrives from now on.
func (s *Switch) Swap(h http.Handler) { s.h.Store(&h) }

// ServeHTTP serves r with the current handler.
func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }
