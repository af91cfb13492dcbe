package config

import (
	"fmt"
	"slices"

	"github.com/creditgate/creditgate/internal/outcome"
)

// validateOverlap refuses two routes that could each grant one Stripe purchase:
// a Checkout Session and the invoice Stripe makes for it (Checkout's post-payment
// invoice, or the first invoice of the subscription it started) are one purchase, and
// the dedup keys of a route are its own. When one route handles the session events
// and another handles invoice.paid, both would grant it, unless creditgate can tell
// that they never see the same Stripe account: different livemode, a Connect route
// and a platform route, or two Connect routes with disjoint connect_accounts.
func (c *Config) validateOverlap(v *problems) {
	for i := range c.Routes {
		for j := range c.Routes {
			a, b := &c.Routes[i], &c.Routes[j]
			if i == j || !grantsSessions(a) || !slices.Contains(b.Events, outcome.EventInvoicePaid) || !mayShareAccount(a, b) {
				continue
			}
			v.add(fmt.Sprintf("routes[%d].events", j), "invoice.paid on route %s and the Checkout Session events on route %s could grant one purchase twice "+
				"(a session and its invoice are one purchase, and each route keeps its own dedup keys); "+
				"list invoice.paid on the route that handles the sessions, or give the routes different livemode or disjoint connect_accounts", show(b.Name), show(a.Name))
		}
	}
}

func grantsSessions(r *Route) bool {
	return slices.Contains(r.Events, outcome.EventSessionCompleted) || slices.Contains(r.Events, outcome.EventAsyncPaymentSucceeded)
}

// mayShareAccount reports whether two routes may receive events of one Stripe account.
func mayShareAccount(a, b *Route) bool {
	switch {
	case a.Livemode != b.Livemode, a.Connect != b.Connect:
		return false
	case !a.Connect || len(a.ConnectAccounts) == 0 || len(b.ConnectAccounts) == 0:
		return true
	}
	for _, acct := range a.ConnectAccounts {
		if slices.Contains(b.ConnectAccounts, acct) {
			return true
		}
	}
	return false
}
