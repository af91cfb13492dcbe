package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeStripe answers the Stripe API reads creditgate makes for subscriptions, from
// objects the test builds by hand in the 2023-10-16 shape (the version stripe-go v76
// pins): invoices with their subscription expanded, invoice lines and session line
// items with price and product expanded, the Checkout Session list filtered by
// subscription or payment_intent, a session with its invoice expanded, customers.
// stripe-mock cannot serve this: it answers every id with the same fixed object.
type fakeStripe struct {
	*httptest.Server
	t  *testing.T
	mu sync.Mutex
	// objects by id (in_, cs_, cus_); lines by invoice or session id.
	objects map[string]map[string]any
	lines   map[string][]map[string]any
	// hidden sessions are not listed yet (Stripe's list lags, or the test says so).
	hidden map[string]bool
}

func newFakeStripe(t *testing.T) *fakeStripe {
	f := &fakeStripe{t: t, objects: map[string]map[string]any{}, lines: map[string][]map[string]any{}, hidden: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeStripe) put(id string, obj map[string]any, lines ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[id] = obj
	if len(lines) > 0 {
		f.lines[id] = lines
	}
}

func (f *fakeStripe) setHidden(id string, hidden bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hidden[id] = hidden
}

// priceLine is a line item of quantity 1 of price, proration or not.
func priceLine(price string, proration bool) map[string]any {
	return map[string]any{
		"id": "il_" + randHex(8), "object": "line_item", "quantity": 1, "proration": proration,
		"price": map[string]any{"id": price, "object": "price", "metadata": map[string]any{},
			"product": map[string]any{"id": "prod_e2e", "object": "product", "metadata": map[string]any{}}},
	}
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	q := r.URL.Query()
	var out any
	switch {
	case r.Method != http.MethodGet:
	case len(parts) == 2 && (parts[0] == "invoices" || parts[0] == "customers" || parts[0] == "checkout" && parts[1] == "sessions"):
		if parts[0] == "checkout" {
			out = f.listSessions(q.Get("subscription"), q.Get("payment_intent"))
			break
		}
		if obj, ok := f.objects[parts[1]]; ok {
			out = obj
		}
	case len(parts) == 3 && parts[0] == "checkout" && f.objects[parts[2]] != nil:
		cs := map[string]any{}
		for k, v := range f.objects[parts[2]] {
			cs[k] = v
		}
		if id, _ := cs["invoice"].(string); id != "" && q.Get("expand[0]") == "invoice" {
			cs["invoice"] = f.objects[id]
		}
		out = cs
	case len(parts) == 3 && parts[0] == "invoices" && parts[2] == "lines",
		len(parts) == 4 && parts[0] == "checkout" && parts[3] == "line_items":
		id := parts[1]
		if parts[0] == "checkout" {
			id = parts[2]
		}
		if ls, ok := f.lines[id]; ok {
			out = map[string]any{"object": "list", "data": ls, "has_more": false, "url": r.URL.Path}
		}
	}
	if out == nil {
		f.t.Errorf("fake Stripe API: no answer for %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"No such object"}}`))
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeStripe) listSessions(sub, pi string) map[string]any {
	data := []any{}
	for id, obj := range f.objects {
		if obj["object"] != "checkout.session" || f.hidden[id] {
			continue
		}
		if sub != "" && obj["subscription"] == sub || sub == "" && pi != "" && obj["payment_intent"] == pi {
			data = append(data, obj)
		}
	}
	return map[string]any{"object": "list", "data": data, "has_more": false, "url": "/v1/checkout/sessions"}
}
