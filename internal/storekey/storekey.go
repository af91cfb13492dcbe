// Package storekey is the one home of every key shape creditgate writes in Redis. Each
// store puts redis.key_prefix in front of what it is given; the shapes below are what
// follows the prefix. The README lists them ("Redis keys"); a change here is a change
// of the stored data, which running deployments and `creditgate audit` read: keep them
// stable (TestShapes).
package storekey

import "strings"

const (
	eventPrefix    = "event:"
	purchasePrefix = "purchase:"
	reversalPrefix = "reversal:"
	awaitingPrefix = "awaiting:"
	customerMap    = "customermap:"
	paymentPrefix  = "payment:"
	probePrefix    = "probe:"

	// RecordPrefix is put by the ledger in front of every record key (Record,
	// Awaiting): record:<route>:<pi>, record:awaiting:<route>:<pi>.
	RecordPrefix = "record:"
	// DeadLetters is the Redis hash of the dead-letter list; its fields are
	// DeadLetter ids.
	DeadLetters = "deadletter"
)

// Event is the claim of one delivery of event id on route: event:<route>:<evt_...>.
func Event(route, id string) string { return eventPrefix + route + ":" + id }

// IsEvent reports whether key is an Event key.
func IsEvent(key string) bool { return strings.HasPrefix(key, eventPrefix) }

// Purchase is the claim that marks purchase id (cs_..., in_...) of route credited:
// purchase:<route>:<id>.
func Purchase(route, id string) string { return purchasePrefix + route + ":" + id }

// Reversal is the lock that runs the reversals of the purchase paid by paymentIntent
// one at a time: reversal:<route>:<pi>.
func Reversal(route, paymentIntent string) string {
	return reversalPrefix + route + ":" + paymentIntent
}

// Record is the ledger's key of the purchase paid by paymentIntent on route
// (<route>:<pi>, stored under RecordPrefix).
func Record(route, paymentIntent string) string { return route + ":" + paymentIntent }

// Awaiting is the ledger's key of the mark a grant leaves when its forward failed and
// Stripe will retry it (awaiting:<route>:<pi>, stored under RecordPrefix).
func Awaiting(route, paymentIntent string) string {
	return awaitingPrefix + Record(route, paymentIntent)
}

// CustomerMap is the route's mapping of a Stripe customer to its user:
// customermap:<route>:<cus_...>.
func CustomerMap(route, customerID string) string { return customerMap + route + ":" + customerID }

// Payment holds the purchase id a payment was first forwarded under, so that every
// delivery forwards it under that one id: payment:<route>:<pi_... or in_...> (the
// PaymentIntent, or the invoice when it has none).
func Payment(route, payment string) string { return paymentPrefix + route + ":" + payment }

// Probe is a throwaway key a readiness check writes: probe:<token>.
func Probe(token string) string { return probePrefix + token }

// DeadLetter is the id (the field in the DeadLetters hash) of the entry of event id
// on route: <route>:<evt_...>.
func DeadLetter(route, eventID string) string { return route + ":" + eventID }
