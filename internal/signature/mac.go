package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"
)

// macState is the scratch space of one HMAC-SHA256 computation, pooled.
type macState struct {
	buf [sha256.BlockSize]byte // scratch for t and for a hex v1
	out [sha256.Size]byte
}

var macPool = sync.Pool{New: func() any { return &macState{} }}

func getMAC() *macState  { return macPool.Get().(*macState) }
func putMAC(s *macState) { clear(s.buf[:]); clear(s.out[:]); macPool.Put(s) }

// sum computes HMAC-SHA256(key, "<t>.<payload>") into s.out: the value of a v1
// signature, exactly as stripe-go's webhook.ComputeSignature defines it (FuzzVerify
// holds the two equal). It uses the standard library's crypto/hmac; no hand-written
// crypto. The keyed HMAC state of each secret is built once and reused through Reset
// (see keyedMACs), so a call allocates nothing and skips hashing the padded key twice.
func (s *macState) sum(key string, t int64, payload []byte) *[sha256.Size]byte {
	pool := keyedMACs.pool(key)
	h := pool.Get().(hash.Hash)
	h.Reset()
	h.Write(strconv.AppendInt(s.buf[:0], t, 10))
	h.Write(dot)
	h.Write(payload)
	h.Sum(s.out[:0])
	pool.Put(h)
	return &s.out
}

var dot = []byte{'.'}

// maxKeyedMACs bounds the secrets whose HMAC state is kept. A process has a handful
// (every route's signing secrets and forwarding keys); callers that pass ever new keys,
// such as fuzz tests, get a fresh, uncached state once the bound is reached.
const maxKeyedMACs = 64

// keyedMACs maps a secret to a pool of HMAC-SHA256 states keyed with it. Lookups
// read an immutable map through an atomic pointer (no lock, no allocation); adding a
// secret copies the map, which happens once per secret.
var keyedMACs macCache

type macCache struct {
	m  atomic.Pointer[map[string]*sync.Pool]
	mu sync.Mutex // serializes writers
}

func (c *macCache) pool(key string) *sync.Pool {
	if m := c.m.Load(); m != nil {
		if p, ok := (*m)[key]; ok {
			return p
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if p, ok := (*old)[key]; ok {
			return p
		}
	}
	p := &sync.Pool{New: func() any { return hmac.New(sha256.New, []byte(key)) }}
	if old != nil && len(*old) >= maxKeyedMACs {
		return p // not kept: used once, then collected
	}
	m := make(map[string]*sync.Pool, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[key] = p
	c.m.Store(&m)
	return p
}

func lenOf(m *map[string]*sync.Pool) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
