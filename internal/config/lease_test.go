package config

import (
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
)

// TestLeaseBoundary: dedup.lease exactly at its minimum is valid, one nanosecond less
// is not, and the minimum counts the Redis timeouts of the store calls and the Stripe
// API timeout, not only the forward budget.
func TestLeaseBoundary(t *testing.T) {
	base := func() *Config {
		c := &Config{Routes: []Route{{
			Name:    "main",
			Stripe:  Stripe{SigningSecrets: []secret.Secret{secret.New("whsec_lease_boundary_0123")}},
			Forward: Forward{URL: "http://backend/credits", SigningKeys: []secret.Secret{secret.New("0123456789abcdef0123")}, Budget: 3 * time.Second},
		}}}
		c.ApplyDefaults()
		return c
	}
	tests := []struct {
		name string
		edit func(c *Config)
		want time.Duration
	}{
		{"in-memory store", func(*Config) {}, 3*time.Second + LeaseMargin},
		{"redis", func(c *Config) {
			c.Redis.URL = secret.New("redis://127.0.0.1:6379/0")
			c.Redis.ReadTimeout, c.Redis.WriteTimeout = 500*time.Millisecond, 250*time.Millisecond
		}, 3*time.Second + 3*750*time.Millisecond + LeaseMargin},
		{"redis and the Stripe API", func(c *Config) {
			c.Redis.URL = secret.New("redis://127.0.0.1:6379/0")
			c.Routes[0].Extract.Credits = []string{outcome.SourcePriceMetadata}
			c.Routes[0].Stripe.APIKey = secret.New("sk_test_lease_boundary_0123")
			c.Routes[0].Stripe.APITimeout = time.Second
		}, 3*time.Second + time.Second + 3*2*time.Second + LeaseMargin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			if got := c.MinLease(&c.Routes[0]); got != tt.want {
				t.Fatalf("MinLease = %s, want %s", got, tt.want)
			}
			c.Dedup.Lease = tt.want
			if err := c.Validate(); err != nil {
				t.Fatalf("lease at the minimum: %v", err)
			}
			c.Dedup.Lease = tt.want - time.Nanosecond
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dedup.lease") {
				t.Fatalf("lease 1ns under the minimum: err = %v, want a dedup.lease problem", err)
			}
		})
	}
}
