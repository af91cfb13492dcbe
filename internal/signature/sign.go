package signature

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/secret"
)

// Sign returns a header value in Stripe's scheme, "t=<unix>,v1=<hex>[,v1=<hex>...]",
// with one v1 per key, in the order given. It is what creditgate sends to the backend as
// Creditgate-Signature, so any Stripe SDK's webhook helper verifies it with the key.
//
// The HMAC itself is stripe-go's webhook.ComputeSignature, so both sides share one
// implementation of "HMAC-SHA256(key, "<t>.<payload>")".
func Sign(payload []byte, keys []secret.Secret, t time.Time) string {
	buf := make([]byte, 0, 16+len(keys)*68)
	buf = append(buf, "t="...)
	buf = strconv.AppendInt(buf, t.Unix(), 10)
	for _, k := range keys {
		buf = append(buf, ",v1="...)
		buf = hex.AppendEncode(buf, webhook.ComputeSignature(t, payload, k.Reveal()))
	}
	return string(buf)
}
