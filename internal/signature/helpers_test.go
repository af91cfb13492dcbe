package signature

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/secret"
)

// now is the fixed clock of the tests.
var now = time.Unix(1_700_000_000, 0)

const (
	secretA = "whsec_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "whsec_test_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	secretC = "whsec_test_cccccccccccccccccccccccccccccccc" // never configured
)

var event = []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","payment_status":"paid","metadata":{"user_id":"u1","credits":"100"}}}}`)

// stripeSigned returns a real Stripe-Signature header made by stripe-go's test signer.
func stripeSigned(payload []byte, key string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: key, Timestamp: t,
	}).Header
}

// stripeV1 returns the hex v1 value stripe-go computes, to build multi-signature headers.
func stripeV1(payload []byte, key string, t time.Time) string {
	return hex.EncodeToString(webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: key, Timestamp: t,
	}).Signature)
}

func secrets(keys ...string) []secret.Secret {
	out := make([]secret.Secret, len(keys))
	for i, k := range keys {
		out[i] = secret.New(k)
	}
	return out
}

// bigPayload is a Stripe-like event of about 3 KB, the size of a real
// checkout.session.completed.
func bigPayload() []byte {
	var b strings.Builder
	b.WriteString(`{"id":"evt_1NzZbx2eZvKYlo2C","object":"event","api_version":"2023-10-16","type":"checkout.session.completed","data":{"object":{"id":"cs_test_a1","object":"checkout.session","metadata":{`)
	for i := 0; b.Len() < 3000; i++ {
		b.WriteString(`"key_`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(`":"value value value value value value",`)
	}
	b.WriteString(`"user_id":"e747de39-1b54-4cd0-96eb-e68f155931e2"}}}}`)
	return []byte(b.String())
}
