package pipeline

import (
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/outcome"
)

// claimEvent takes the event key; settled is true when o is final: the event was
// handled before (duplicate), is being handled elsewhere (in flight), or the store
// failed.
func (c *claims) claimEvent(o Outcome, key string) (Outcome, bool) {
	switch st, err := c.claim(key); {
	case err != nil:
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err), true
	case st == dedup.Done:
		o.Result, o.Reason, o.Detail = outcome.Duplicate, outcome.ReasonEvent, "event already handled"
		return o, true
	case st == dedup.InFlight:
		o.Result, o.Reason, o.Detail = outcome.InFlight, outcome.ReasonEvent, "event is being handled by another request"
		return o, true
	}
	return o, false
}
