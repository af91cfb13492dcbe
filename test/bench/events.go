package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// benchEvent is one pre-generated delivery: the exact body and its Stripe-Signature.
type benchEvent struct {
	body   []byte
	header string
}

// benchEventTemplate is a checkout.session.completed as Stripe sends it (pretty
// printed, API version 2024-06-20, the shape of internal/event/testdata's fixture),
// about 3 KB. %[1]s event id, %[2]s session id, %[3]s customer, %[4]s payment
// intent, %[5]s user id, %[6]d created.
const benchEventTemplate = `{
  "id": "%[1]s",
  "object": "event",
  "api_version": "2024-06-20",
  "created": %[6]d,
  "data": {
    "object": {
      "id": "%[2]s",
      "object": "checkout.session",
      "after_expiration": null,
      "allow_promotion_codes": null,
      "amount_subtotal": 999,
      "amount_total": 999,
      "automatic_tax": {
        "enabled": false,
        "liability": null,
        "provider": null,
        "status": null
      },
      "billing_address_collection": null,
      "cancel_url": "https://example.com/credits",
      "client_reference_id": "%[5]s",
      "client_secret": null,
      "consent": null,
      "consent_collection": null,
      "created": %[6]d,
      "currency": "eur",
      "currency_conversion": null,
      "custom_fields": [],
      "custom_text": {
        "after_submit": null,
        "shipping_address": null,
        "submit": null,
        "terms_of_service_acceptance": null
      },
      "customer": "%[3]s",
      "customer_creation": "if_required",
      "customer_details": {
        "address": {
          "city": "Berlin",
          "country": "DE",
          "line1": null,
          "line2": null,
          "postal_code": "10115",
          "state": null
        },
        "email": "jenny.rosen@example.com",
        "name": "Jenny Rosen",
        "phone": null,
        "tax_exempt": "none",
        "tax_ids": []
      },
      "customer_email": null,
      "expires_at": %[6]d,
      "invoice": null,
      "invoice_creation": {
        "enabled": false,
        "invoice_data": {
          "account_tax_ids": null,
          "custom_fields": null,
          "description": null,
          "footer": null,
          "issuer": null,
          "metadata": {},
          "rendering_options": null
        }
      },
      "livemode": false,
      "locale": null,
      "metadata": {
        "credits": "100",
        "user_id": "%[5]s"
      },
      "mode": "payment",
      "payment_intent": "%[4]s",
      "payment_link": null,
      "payment_method_collection": "if_required",
      "payment_method_configuration_details": null,
      "payment_method_options": {
        "card": {
          "request_three_d_secure": "automatic"
        }
      },
      "payment_method_types": [
        "card"
      ],
      "payment_status": "paid",
      "phone_number_collection": {
        "enabled": false
      },
      "recovered_from": null,
      "setup_intent": null,
      "shipping_address_collection": null,
      "shipping_cost": null,
      "shipping_details": null,
      "shipping_options": [],
      "status": "complete",
      "submit_type": null,
      "subscription": null,
      "success_url": "https://example.com/credits/success?session_id={CHECKOUT_SESSION_ID}",
      "total_details": {
        "amount_discount": 0,
        "amount_shipping": 0,
        "amount_tax": 0
      },
      "ui_mode": "hosted",
      "url": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": null,
    "idempotency_key": null
  },
  "type": "checkout.session.completed"
}
`

// benchGenerate returns n distinct paid sessions, each signed now with secret by
// stripe-go's own test signer (the Stripe-Signature Stripe would send). tag keeps the
// ids of different phases and runs apart.
func benchGenerate(n int, tag, secret string) []benchEvent {
	now := time.Now()
	out := make([]benchEvent, n)
	for i := range out {
		h := benchHash(tag, i)
		body := fmt.Appendf(nil, benchEventTemplate,
			"evt_bench_"+tag+"_"+h[:16],
			"cs_test_b1"+tag+h[:48],
			"cus_"+h[16:30],
			"pi_3"+h[30:52],
			benchUUID(h),
			now.Unix()-5,
		)
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now})
		out[i] = benchEvent{body: body, header: sp.Header}
	}
	return out
}

// benchHash is 64 hex digits that depend on tag and i only.
func benchHash(tag string, i int) string {
	var out [32]byte
	for k := range 4 {
		f := fnv.New64a()
		f.Write([]byte(tag))
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], uint64(i))
		binary.LittleEndian.PutUint64(b[8:], uint64(k))
		f.Write(b[:])
		binary.LittleEndian.PutUint64(out[k*8:], f.Sum64())
	}
	return hex.EncodeToString(out[:])
}

// benchUUID shapes 32 hex digits as a version-4 UUID.
func benchUUID(h string) string {
	b := []byte(h[:32])
	b[12] = '4'
	b[16] = "89ab"[b[16]%4]
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}
