package stripeapi

import (
	"context"
	"errors"

	"github.com/stripe/stripe-go/v76"
)

// Endpoint is what the watch needs of a webhook endpoint.
type Endpoint struct {
	ID string
	// URL is where Stripe sends the endpoint's events.
	URL string
	// Status is "enabled" or "disabled" (Stripe disables an endpoint after days of
	// failed deliveries).
	Status string
	// EnabledEvents are the event types Stripe sends it; ["*"] means all.
	EnabledEvents []string
	Livemode      bool
}

func endpoint(we *stripe.WebhookEndpoint) Endpoint {
	return Endpoint{ID: we.ID, URL: we.URL, Status: we.Status, EnabledEvents: we.EnabledEvents, Livemode: we.Livemode}
}

// WebhookEndpoint reads one webhook endpoint (GET /v1/webhook_endpoints/{id}).
func (c *Client) WebhookEndpoint(ctx context.Context, id string) (Endpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.WebhookEndpointParams{}
	p.Context = ctx
	we, err := c.api.WebhookEndpoints.Get(id, p)
	if err != nil {
		return Endpoint{}, classify("get webhook endpoint "+id, err)
	}
	return endpoint(we), nil
}

// WebhookEndpoints lists every webhook endpoint of the key's account and mode.
func (c *Client) WebhookEndpoints(ctx context.Context) ([]Endpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.WebhookEndpointListParams{}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	var out []Endpoint
	it := c.api.WebhookEndpoints.List(p)
	for it.Next() {
		out = append(out, endpoint(it.WebhookEndpoint()))
	}
	if err := it.Err(); err != nil {
		return nil, classify("list webhook endpoints", err)
	}
	return out, nil
}

var errEnough = errors.New("counted enough")

// CountEvents counts the events that match q, up to limit (every page until then);
// capped reports that there may be more.
func (c *Client) CountEvents(ctx context.Context, q EventQuery, limit int) (n int, capped bool, err error) {
	err = c.Events(ctx, q, func([]byte) error {
		n++
		if n >= limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return n, true, nil
	}
	return n, false, err
}
