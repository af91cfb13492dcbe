package config

import (
	"net/url"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// Bounds of the edge limits (docs/security.md).
const (
	MaxInflightBodyLimit = 1 << 30
	MaxConnectionsLimit  = 1 << 20
	MaxWaitReplicas      = 16
	MaxWaitTimeout       = 5 * time.Second
)

// validateEdge checks the limits that bound memory and connections.
func (c *Config) validateEdge(v *problems) {
	if c.MaxInflightBodyBytes < c.MaxBodyBytes || c.MaxInflightBodyBytes > MaxInflightBodyLimit {
		v.add("max_inflight_body_bytes", "must be between max_body_bytes (%d) and %d, got %d", c.MaxBodyBytes, MaxInflightBodyLimit, c.MaxInflightBodyBytes)
	}
	if c.MaxConnections < 1 || c.MaxConnections > MaxConnectionsLimit {
		v.add("max_connections", "must be between 1 and %d, got %d", MaxConnectionsLimit, c.MaxConnections)
	}
	if r := c.Redis; r.WaitReplicas < 0 || r.WaitReplicas > MaxWaitReplicas {
		v.add("redis.wait_replicas", "must be between 0 and %d, got %d", MaxWaitReplicas, r.WaitReplicas)
	} else if r.WaitReplicas > 0 && !r.Enabled() {
		v.add("redis.wait_replicas", "needs Redis (url, sentinel or cluster_addrs); the in-memory store has no replicas")
	}
	if c.Redis.WaitTimeout < time.Millisecond || c.Redis.WaitTimeout > MaxWaitTimeout {
		v.add("redis.wait_timeout", "must be between 1ms and %s, got %s", MaxWaitTimeout, c.Redis.WaitTimeout)
	}
	if c.AdminMaxConnections < 1 || c.AdminMaxConnections > MaxConnectionsLimit {
		v.add("admin_max_connections", "must be between 1 and %d, got %d", MaxConnectionsLimit, c.AdminMaxConnections)
	}
}

// validateRedisSecrets checks the Redis passwords for the invisible bytes and
// placeholders that secret.Problem describes.
func validateRedisSecrets(v *problems, r Redis) {
	for _, pw := range []struct {
		field string
		s     secret.Secret
	}{{"redis.password", r.Password}, {"redis.url", urlPassword(r.URL)}, {"redis.sentinel.password", sentinelPassword(r.Sentinel)}} {
		if prob := pw.s.Problem(); !pw.s.IsZero() && prob != "" {
			v.add(pw.field, "password %s", prob)
		}
	}
}

// urlPassword is the password inside a redis:// URL, or the zero Secret.
func urlPassword(u secret.Secret) secret.Secret {
	parsed, err := url.Parse(u.Reveal())
	if err != nil || parsed.User == nil {
		return secret.Secret{}
	}
	pw, _ := parsed.User.Password()
	return secret.New(pw)
}

func sentinelPassword(s *Sentinel) secret.Secret {
	if s == nil {
		return secret.Secret{}
	}
	return s.Password
}

// StoreCallsPerDelivery is how many store round trips a claim must outlive: the claim
// itself, the customer-map lookup before the forward, and the settlement after it.
const StoreCallsPerDelivery = 3

// MinLease is the shortest dedup.lease route r allows: a claim must not expire while
// its holder can still be working, so the lease covers the forward budget, the Stripe
// API calls made before it (routes that use the API), each store call at its Redis
// read and write timeouts, the settlement's WAIT for replicas, and LeaseMargin.
func (c *Config) MinLease(r *Route) time.Duration {
	d := r.Forward.Budget + LeaseMargin
	if r.UsesAPI() {
		d += r.Stripe.APITimeout
	}
	if c.Redis.Enabled() {
		d += StoreCallsPerDelivery * (c.Redis.ReadTimeout + c.Redis.WriteTimeout)
		if c.Redis.WaitReplicas > 0 {
			d += c.Redis.WaitTimeout // the settlement's WAIT
		}
	}
	return d
}

func (c *Config) validateLease(v *problems, p string, r *Route) {
	if min := c.MinLease(r); c.Dedup.Lease < min {
		v.add("dedup.lease", "(%s) must be at least %s (%s.forward.budget %s, Stripe API and Redis timeouts of the calls around it, + %s), so a claim cannot expire while its holder is still working", c.Dedup.Lease, min, p, r.Forward.Budget, LeaseMargin)
	}
}
