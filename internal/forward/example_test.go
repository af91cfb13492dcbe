package forward_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/secret"
)

func ExampleClient_Send() {
	const key = "fwd_example_key"
	// The backend: verify with any Stripe SDK's webhook helper, credit once per
	// Idempotency-Key, answer 2xx (or 409 when that key was credited before).
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.ValidatePayload(body, r.Header.Get("Creditgate-Signature"), key) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Println("backend credits", r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()

	c, err := forward.New(forward.Options{
		URL:       backend.URL + "/internal/credits",
		Keys:      []secret.Secret{secret.New(key)},
		UserAgent: "creditgate/example",
	})
	if err != nil {
		panic(err)
	}
	res, err := c.Send(context.Background(), forward.Request{
		ID:         "cs_test_1",
		Type:       forward.TypeGranted,
		UserID:     "user-42",
		Credits:    100,
		OccurredAt: time.Now(),
		Stripe:     forward.StripeRef{EventID: "evt_1", EventType: "checkout.session.completed", SessionID: "cs_test_1"},
	})
	fmt.Println(res.Status, res.Attempts, err)
	// Output:
	// backend credits cs_test_1
	// 201 1 <nil>
}
