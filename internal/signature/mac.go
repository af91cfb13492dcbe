package signature

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// macState is the scratch space of one HMAC-SHA256 computation, pooled.
type macState struct {
	buf [sha256.BlockSize]byte // scratch for a hex v1
	out [sha256.Size]byte
}

var macPool = sync.Pool{New: func() any { return &macState{} }}

func getMAC() *macState  { return macPool.Get().(*macState) }
func putMAC(s *macState) { clear(s.buf[:]); clear(s.out[:]); macPool.Put(s) }

// sum computes HMAC-SHA256(key, "<t>.<payload>") into s.out: the value of a v1
// signature. It is stripe-go's own webhook.ComputeSignature, so Stripe's definition of
// the scheme is the one we verify and sign with; no hand-written crypto. (It allocates
// about ten times per call; a per-secret precomputed crypto/hmac state is the way to
// remove that if profiles ever show it, not a hand-rolled HMAC.)
func (s *macState) sum(key string, t int64, payload []byte) *[sha256.Size]byte {
	copy(s.out[:], webhook.ComputeSignature(time.Unix(t, 0), payload, key))
	return &s.out
}
