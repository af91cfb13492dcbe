package config

import (
	"net/url"

	"github.com/creditgate/creditgate/internal/secret"
)

// Bounds of the edge limits (docs/security.md).
const (
	MaxInflightBodyLimit = 1 << 30
	MaxConnectionsLimit  = 1 << 20
)

// validateEdge checks the limits that bound memory and connections.
func (c *Config) validateEdge(v *problems) {
	if c.MaxInflightBodyBytes < c.MaxBodyBytes || c.MaxInflightBodyBytes > MaxInflightBodyLimit {
		v.add("max_inflight_body_bytes", "must be between max_body_bytes (%d) and %d, got %d", c.MaxBodyBytes, MaxInflightBodyLimit, c.MaxInflightBodyBytes)
	}
	if c.MaxConnections < 1 || c.MaxConnections > MaxConnectionsLimit {
		v.add("max_connections", "must be between 1 and %d, got %d", MaxConnectionsLimit, c.MaxConnections)
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
