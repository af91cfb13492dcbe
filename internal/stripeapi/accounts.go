package stripeapi

import (
	"context"

	"github.com/stripe/stripe-go/v76"
)

// Accounts calls fn with the id of every connected account of the platform, every
// page (GET /v1/accounts). fn's error stops the listing and is returned as it is.
func (c *Client) Accounts(ctx context.Context, fn func(id string) error) error {
	p := &stripe.AccountListParams{}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	it := c.api.Accounts.List(p)
	for it.Next() {
		if err := fn(it.Account().ID); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return classify("list accounts", err)
	}
	return nil
}
