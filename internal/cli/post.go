package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
)

// delivery is what a Stripe-like sender got back.
type delivery struct {
	Code    int
	Status  string
	EventID string
}

// postSigned signs body with secret like Stripe does and POSTs it to url.
func postSigned(ctx context.Context, client *http.Client, url string, body []byte, key secret.Secret, now time.Time) (delivery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set(signature.StripeHeader, signature.Sign(body, []secret.Secret{key}, now))
	resp, err := client.Do(req)
	if err != nil {
		return delivery{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var a struct {
		Status  string `json:"status"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return delivery{Code: resp.StatusCode}, fmt.Errorf("answer %d is not JSON: %.200q", resp.StatusCode, raw)
	}
	return delivery{Code: resp.StatusCode, Status: a.Status, EventID: a.EventID}, nil
}
