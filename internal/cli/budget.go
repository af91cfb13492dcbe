package cli

import (
	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// readBudgets hands out one Stripe API read budget per API key: Stripe's read limit
// is per account, so routes that share a key share its budget (at the rate of the
// first route that names the key).
type readBudgets map[string]*stripeapi.Budget

func (b readBudgets) of(s config.Stripe) *stripeapi.Budget {
	key := s.APIKey.Reveal()
	if b[key] == nil {
		b[key] = stripeapi.NewBudget(s.APIReadsPerSecond)
	}
	return b[key]
}
