package pipeline

import "github.com/creditgate/creditgate/internal/outcome"

// Outcome is what became of one delivery: the answer for Stripe (Result), a bounded
// Reason for metrics and logs, and a Detail for the operator (never sent to Stripe).
type Outcome struct {
	Result    outcome.Result
	Reason    outcome.Reason // why it was ignored / dead-lettered / failed
	Detail    string         // operator message; may name fields, never secrets or the payload
	EventID   string
	EventType string
	SessionID string
	Credits   int64
	Attempts  int // forward attempts made
	// Reversed is the credits a reversal took back (positive); Credits stays 0 then.
	Reversed int64
	Err      error
}
