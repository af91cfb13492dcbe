// Package signature owns Stripe's webhook signature scheme, in both directions.
//
// Inbound, Verify checks the Stripe-Signature header of a webhook against the signing
// secrets of a route (several during a rotation) and a time window that is enforced in
// both directions. Outbound, Sign produces the Creditgate-Signature header that the
// forwarder sends to the backend, in the very same format, so that any Stripe SDK's
// webhook helper (for example stripe-go's webhook.ValidatePayload) verifies it.
//
// The header looks like
//
//	t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=...
//
// where t is Unix seconds and each v1 is the lowercase hex of
// HMAC-SHA256(secret, "<t>.<raw body>"). The behaviour follows stripe-go v76's
// webhook package; where it differs (future timestamps, whitespace, duplicate t, bounds)
// the difference is documented at ParseHeader and Verify.
//
// Nothing in this package logs, and no error it returns contains a secret, a signature
// or the payload.
package signature
