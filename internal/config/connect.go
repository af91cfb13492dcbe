package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/creditgate/creditgate/internal/outcome"
)

// AccountCreditSources are the credits sources whose value a connected account writes
// itself on a Connect route: the session's metadata and its own Prices' and Products'
// metadata. Without connect_trust_accounts they are refused there, because a Connect
// endpoint's events are signed by Stripe but their content is the account's word.
var AccountCreditSources = []string{outcome.SourceMetadataCredits, outcome.SourcePriceMetadata}

// DefaultAPIReadsPerSec is stripe.api_reads_per_second's default: below Stripe's
// test-mode read limit (25 a second), well below live mode's.
const DefaultAPIReadsPerSec = 20

// MaxAPIReadsPerSecond bounds stripe.api_reads_per_second (Stripe's live-mode read
// limit is about 100 a second per account).
const MaxAPIReadsPerSecond = 100

// validateReads checks the read budget of a route's API key.
func validateReads(v *problems, p string, r *Route) {
	if n := r.Stripe.APIReadsPerSecond; n < 1 || n > MaxAPIReadsPerSecond {
		v.add(p+".stripe.api_reads_per_second", "must be between 1 and %d, got %d", MaxAPIReadsPerSecond, n)
	}
}

// validateConnect checks the trust boundary of a Connect route: credits come only
// from what the platform controls (price_table) unless the route opts in to trusting
// its accounts.
func validateConnect(v *problems, p string, r *Route) {
	if !r.Connect {
		if r.ConnectTrustAccounts {
			v.add(p+".connect_trust_accounts", "is set, but the route is not a Connect route (connect: true)")
		}
		return
	}
	if r.ConnectTrustAccounts {
		return
	}
	for i, s := range r.Extract.Credits {
		if slices.Contains(AccountCreditSources, s) {
			v.add(fmt.Sprintf("%s.extract.credits[%d]", p, i),
				"%s on a Connect route takes the credits from what the connected account wrote, so any allowed account could mint credits: use price_table (platform-approved prices), or set connect_trust_accounts: true to trust every allowed account", show(s))
		}
	}
}

// Notes are facts about a valid route that an operator should read, for check-config:
// today, that a Connect route trusts its accounts. Empty when there is nothing to say.
func (r *Route) Notes() []string {
	var out []string
	if r.Connect {
		out = append(out, `user ids are forwarded scoped by account ("acct_…:<user id>")`)
	}
	if r.Connect && r.ConnectTrustAccounts {
		var trusted []string
		for _, s := range r.Extract.Credits {
			if slices.Contains(AccountCreditSources, s) {
				trusted = append(trusted, s)
			}
		}
		who := "every connected account"
		if len(r.ConnectAccounts) > 0 {
			who = strings.Join(r.ConnectAccounts, ", ")
		}
		if len(trusted) > 0 {
			out = append(out, fmt.Sprintf("TRUSTS %s to set its own credits (%s; connect_trust_accounts: true), capped by extract.max_credits (%d)", who, strings.Join(trusted, ", "), r.Extract.MaxCredits))
		}
	}
	return out
}
