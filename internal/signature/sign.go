package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// Sign returns a header value in Stripe's scheme, "t=<unix>,v1=<hex>[,v1=<hex>...]",
// with one v1 per key, in the order given. It is what creditgate sends to the backend as
// Creditgate-Signature, so any Stripe SDK's webhook helper verifies it with the key.
//
// Each v1 is HMAC-SHA256(key, "<t>.<payload>") in lowercase hex, byte for byte what
// stripe-go's webhook.ComputeSignature gives (TestSignAcceptedByStripe checks it);
// t is truncated to whole seconds. Every key is used as given, an empty one included:
// refusing empty keys is the configuration's job. With no keys the header has no v1
// and verifies nowhere.
func Sign(payload []byte, keys []secret.Secret, t time.Time) string {
	st := getMAC()
	defer putMAC(st)
	var b strings.Builder // one allocation: the header itself
	b.Grow(len("t=") + 20 + len(keys)*len(",v1=") + len(keys)*2*sha256.Size)
	b.WriteString("t=")
	b.Write(strconv.AppendInt(st.buf[:0], t.Unix(), 10))
	for _, k := range keys {
		mac := st.sum(k.Reveal(), t.Unix(), payload)
		hex.Encode(st.buf[:], mac[:]) // st.buf holds exactly 2*sha256.Size bytes
		b.WriteString(",v1=")
		b.Write(st.buf[:])
	}
	return b.String()
}
