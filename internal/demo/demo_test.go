package demo_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/secret"
)

const (
	forwardKey = "demo-test-forward-key-0123456789"
	user       = "e747de39-1b54-4cd0-96eb-e68f155931e2"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^cs_test_[0-9a-f]{24}$`)
	a, b := demo.NewID("cs_test_"), demo.NewID("cs_test_")
	for _, id := range []string{a, b} {
		if !re.MatchString(id) {
			t.Errorf("NewID = %q, want cs_test_ + 24 hex characters", id)
		}
	}
	if a == b {
		t.Errorf("two NewID calls gave the same id %q", a)
	}
}

// TestSessionEventCarriesFields decodes the sample with the same decoder the proxy
// uses and checks every field that was given.
func TestSessionEventCarriesFields(t *testing.T) {
	created := time.Date(2026, 11, 27, 19, 6, 22, 0, time.UTC)
	raw := demo.Session{
		EventID:       "evt_demo_1",
		Type:          "checkout.session.async_payment_succeeded",
		SessionID:     "cs_test_demo_1",
		UserID:        user,
		Credits:       "250",
		Customer:      "cus_demo_1",
		PaymentStatus: "unpaid",
		Livemode:      true,
		APIVersion:    "2025-03-31.basil",
		Created:       created,
		AmountTotal:   4999,
		Currency:      "usd",
	}.Event()
	v, err := event.Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, raw)
	}
	if v.ID != "evt_demo_1" || v.Type != "checkout.session.async_payment_succeeded" ||
		v.APIVersion != "2025-03-31.basil" || v.Created != created.Unix() || !v.Livemode || v.Account != "" {
		t.Errorf("envelope = %+v", v)
	}
	o := v.Object
	want := event.Object{
		ID:                "cs_test_demo_1",
		Object:            "checkout.session",
		ClientReferenceID: user,
		Customer:          "cus_demo_1",
		PaymentIntent:     o.PaymentIntent, // random, checked below
		PaymentStatus:     "unpaid",
		Status:            "complete",
		Mode:              "payment",
		AmountTotal:       4999,
		Currency:          "usd",
		Metadata:          map[string]string{"user_id": user, "credits": "250"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("object =\n%+v\nwant\n%+v", o, want)
	}
	if !regexp.MustCompile(`^pi_[0-9a-f]{24}$`).MatchString(o.PaymentIntent) {
		t.Errorf("payment_intent = %q, want a fresh pi_...", o.PaymentIntent)
	}
}

func TestSessionEventDefaults(t *testing.T) {
	before := time.Now().Unix()
	v, err := event.Decode(demo.Session{}.Event())
	if err != nil {
		t.Fatal(err)
	}
	o := v.Object
	checks := []struct {
		name      string
		got, want any
	}{
		{"type", v.Type, "checkout.session.completed"},
		{"api_version", v.APIVersion, "2024-06-20"},
		{"livemode", v.Livemode, false},
		{"payment_status", o.PaymentStatus, "paid"},
		{"amount_total", o.AmountTotal, int64(999)},
		{"currency", o.Currency, "eur"},
		{"client_reference_id", o.ClientReferenceID, ""},
		{"metadata", len(o.Metadata), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for name, pair := range map[string][2]string{
		"event id": {v.ID, `^evt_[0-9a-f]{24}$`}, "session id": {o.ID, `^cs_test_[0-9a-f]{24}$`},
		"customer": {o.Customer, `^cus_[0-9a-f]{24}$`}, "payment_intent": {o.PaymentIntent, `^pi_[0-9a-f]{24}$`},
	} {
		if !regexp.MustCompile(pair[1]).MatchString(pair[0]) {
			t.Errorf("%s = %q, want %s", name, pair[0], pair[1])
		}
	}
	if v.Created < before || v.Created > time.Now().Unix() {
		t.Errorf("created = %d, want now", v.Created)
	}
}

func TestSessionEventNoPaymentRequiredHasNoPaymentIntent(t *testing.T) {
	raw := demo.Session{PaymentStatus: "no_payment_required", UserID: user, Credits: "10"}.Event()
	v, err := event.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v.Object.PaymentIntent != "" || v.Object.PaymentStatus != "no_payment_required" {
		t.Errorf("payment_intent = %q, payment_status = %q; want none and no_payment_required", v.Object.PaymentIntent, v.Object.PaymentStatus)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	obj := m["data"].(map[string]any)["object"].(map[string]any)
	if pi, ok := obj["payment_intent"]; !ok || pi != nil {
		t.Errorf("payment_intent = %v (present %t), want JSON null as Stripe sends it", pi, ok)
	}
}

// credit returns a signed credit request as creditgate would send it.
func credit(t *testing.T, id, userID string, credits int64, key string) *http.Request {
	t.Helper()
	body, err := json.Marshal(forward.Request{
		ID: id, Type: forward.TypeGranted, UserID: userID, Credits: credits,
		OccurredAt: time.Now(), Stripe: forward.StripeRef{EventID: "evt_x", EventType: "checkout.session.completed", SessionID: id},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Signed with stripe-go's own test signer: the backend must accept Stripe's scheme.
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: key, Timestamp: time.Now()})
	r := httptest.NewRequest(http.MethodPost, "/internal/credits", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(forward.HeaderSignature, sp.Header)
	r.Header.Set(forward.HeaderIdempotency, id)
	return r
}

func serve(b *demo.Backend, r *http.Request) int {
	w := httptest.NewRecorder()
	b.ServeHTTP(w, r)
	return w.Code
}

func TestBackendCreditsOnceThen409(t *testing.T) {
	b := demo.NewBackend(secret.New(forwardKey))
	if got := serve(b, credit(t, "cs_test_1", user, 100, forwardKey)); got != http.StatusOK {
		t.Fatalf("first credit: %d, want 200", got)
	}
	if got := serve(b, credit(t, "cs_test_1", user, 100, forwardKey)); got != http.StatusConflict {
		t.Fatalf("same id again: %d, want 409", got)
	}
	if got := serve(b, credit(t, "cs_test_2", user, 50, forwardKey)); got != http.StatusOK {
		t.Fatalf("second purchase: %d, want 200", got)
	}
	if got := b.Balance(user); got != 150 {
		t.Errorf("balance = %d, want 150", got)
	}
	if got := b.Applied(); got != 2 {
		t.Errorf("applied = %d, want 2", got)
	}
	if got := b.Balance("someone-else"); got != 0 {
		t.Errorf("balance of a stranger = %d, want 0", got)
	}
}

func TestBackendAcceptsAnyOfItsKeys(t *testing.T) {
	b := demo.NewBackend(secret.New("old-key-0123456789abcdef"), secret.New(forwardKey))
	if got := serve(b, credit(t, "cs_test_old", user, 1, "old-key-0123456789abcdef")); got != http.StatusOK {
		t.Errorf("signed with the old key: %d, want 200", got)
	}
	if got := serve(b, credit(t, "cs_test_new", user, 2, forwardKey)); got != http.StatusOK {
		t.Errorf("signed with the new key: %d, want 200", got)
	}
	if got := b.Balance(user); got != 3 {
		t.Errorf("balance = %d, want 3", got)
	}
}

func TestBackendRejects(t *testing.T) {
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
	}{
		{"signed with another key", func(t *testing.T) *http.Request {
			return credit(t, "cs_test_1", user, 100, "not-the-forward-key-0123456789")
		}, http.StatusUnauthorized},
		{"no signature", func(t *testing.T) *http.Request {
			r := credit(t, "cs_test_1", user, 100, forwardKey)
			r.Header.Del(forward.HeaderSignature)
			return r
		}, http.StatusUnauthorized},
		{"body changed after signing", func(t *testing.T) *http.Request {
			r := credit(t, "cs_test_1", user, 100, forwardKey)
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"credits":100`), []byte(`"credits":999`), 1)))
			return r
		}, http.StatusUnauthorized},
		{"signature too old", func(t *testing.T) *http.Request {
			r := credit(t, "cs_test_1", user, 100, forwardKey)
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: forwardKey, Timestamp: time.Now().Add(-time.Hour)})
			r.Header.Set(forward.HeaderSignature, sp.Header)
			return r
		}, http.StatusUnauthorized},
		{"body id differs from Idempotency-Key", func(t *testing.T) *http.Request {
			r := credit(t, "cs_test_1", user, 100, forwardKey)
			r.Header.Set(forward.HeaderIdempotency, "cs_test_other")
			return r
		}, http.StatusBadRequest},
		{"no Idempotency-Key", func(t *testing.T) *http.Request {
			r := credit(t, "cs_test_1", user, 100, forwardKey)
			r.Header.Del(forward.HeaderIdempotency)
			return r
		}, http.StatusBadRequest},
		{"signed body that is not JSON", func(t *testing.T) *http.Request {
			body := []byte("not json")
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: forwardKey, Timestamp: time.Now()})
			r := httptest.NewRequest(http.MethodPost, "/internal/credits", bytes.NewReader(body))
			r.Header.Set(forward.HeaderSignature, sp.Header)
			r.Header.Set(forward.HeaderIdempotency, "cs_test_1")
			return r
		}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := demo.NewBackend(secret.New(forwardKey))
			if got := serve(b, tt.req(t)); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if b.Applied() != 0 || b.Balance(user) != 0 {
				t.Errorf("a rejected request was applied: applied=%d balance=%d", b.Applied(), b.Balance(user))
			}
			// A rejection does not burn the id: the real request still credits.
			if got := serve(b, credit(t, "cs_test_1", user, 100, forwardKey)); got != http.StatusOK {
				t.Errorf("valid request after the rejection: %d, want 200", got)
			}
		})
	}
}

// TestBackendWithForwardClient checks the demo backend against creditgate's own
// forwarding client: 200 on the first send, "already credited" (409) on the second.
func TestBackendWithForwardClient(t *testing.T) {
	b := demo.NewBackend(secret.New(forwardKey))
	srv := httptest.NewServer(b)
	defer srv.Close()
	c, err := forward.New(forward.Options{URL: srv.URL + "/internal/credits", Keys: []secret.Secret{secret.New(forwardKey)}, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := forward.Request{ID: "cs_test_fw", Type: forward.TypeGranted, UserID: user, Credits: 42, OccurredAt: time.Now(),
		Stripe: forward.StripeRef{EventID: "evt_fw", EventType: "checkout.session.completed", SessionID: "cs_test_fw"}}
	res, err := c.Send(t.Context(), req)
	if err != nil || res.Status != http.StatusOK || res.AlreadyCredited {
		t.Fatalf("first send: %+v, %v; want 200", res, err)
	}
	res, err = c.Send(t.Context(), req)
	if err != nil || res.Status != http.StatusConflict || !res.AlreadyCredited {
		t.Fatalf("second send: %+v, %v; want 409 already credited", res, err)
	}
	if b.Balance(user) != 42 || b.Applied() != 1 {
		t.Errorf("balance = %d, applied = %d; want 42, 1", b.Balance(user), b.Applied())
	}
}
