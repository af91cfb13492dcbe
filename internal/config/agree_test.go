package config

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
	"github.com/creditgate/creditgate/internal/stripeapi"
	"github.com/creditgate/creditgate/internal/watch"
)

// oneRoute is the smallest valid routes section.
const oneRoute = `routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: "http://backend/credits", signing_keys: ["0123456789abcdef"]}
`

// TestValidateAgreesWithConstructors: a setting that the config accepts is one the
// package using it accepts, and the other way round (forward.url with forward.New,
// redis.pool_size with redisclient.New), so check-config and serve never disagree.
func TestValidateAgreesWithConstructors(t *testing.T) {
	for _, u := range []string{
		"http://backend/credits", "https://backend:8443/credits?tenant=a", "http://backend/credits#main",
		"http://backend/credits#", "ftp://backend/credits", "http://user:pw@backend/credits", "/credits",
		"http://", "", "http://[::1", "http://backend/%zz",
	} {
		t.Run("forward.url "+u, func(t *testing.T) {
			cfg, err := Parse(fmt.Appendf(nil, `
routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: %q, signing_keys: ["0123456789abcdef"]}
`, u), "", env(nil))
			_, newErr := forward.New(forward.Options{URL: u, Keys: []secret.Secret{secret.New("0123456789abcdef")}})
			if (err == nil) != (newErr == nil) {
				t.Errorf("config: %v; forward.New: %v; want both to accept or both to refuse", err, newErr)
			}
			if err == nil && cfg.Routes[0].Forward.URL != u {
				t.Errorf("forward.url = %q", cfg.Routes[0].Forward.URL)
			}
		})
	}
	for _, n := range []int{-1, 0, 10, redisclient.MaxPoolSize, redisclient.MaxPoolSize + 1, math.MaxInt32 + 1, 3_000_000_000} {
		t.Run(fmt.Sprint("redis.pool_size ", n), func(t *testing.T) {
			_, err := Parse(fmt.Appendf(nil, "redis: {url: \"redis://127.0.0.1:6379\", pool_size: %d}\n%s", n, oneRoute), "", env(nil))
			c, newErr := redisclient.New(redisclient.Options{URL: secret.New("redis://127.0.0.1:6379"), PoolSize: n})
			if c != nil {
				_ = c.Close()
			}
			if (err == nil) != (newErr == nil) {
				t.Errorf("config: %v; redisclient.New: %v; want both to accept or both to refuse", err, newErr)
			}
		})
	}
}

// TestRedisProblemsAreTheClients: what redisclient.New refuses, the config refuses
// under the setting's name, with the client's message (redisclient.Check).
func TestRedisProblemsAreTheClients(t *testing.T) {
	tests := []struct{ redis, problem string }{
		{`{url: "redis://h:6379", cluster_addrs: ["n:1"]}`, "redis: set only one of url, sentinel and cluster_addrs"},
		{`{sentinel: {addrs: ["s:26379"]}}`, "redis.sentinel.master_name: is required"},
		{`{sentinel: {master_name: m}}`, "redis.sentinel.addrs: needs at least one address"},
		{`{cluster_addrs: ["n:1", ""]}`, "redis.cluster_addrs: has an empty address"},
		{`{cluster_addrs: ["n:1"], db: 2}`, "redis.db: must be 0 with cluster_addrs (Redis Cluster has only database 0), got 2"},
		{`{url: "redis://h:6379", db: -1}`, "redis.db: must not be negative, got -1"},
		{`{url: "redis://h:6379", read_timeout: -1s}`, "redis.read_timeout: must not be negative, got -1s"},
		{`{url: "rediss://h:6379", tls: {cert_file: c.pem}}`, "redis.tls: cert_file and key_file go together"},
	}
	for _, tt := range tests {
		t.Run(tt.problem, func(t *testing.T) {
			cfg := &Config{}
			if err := parseOnly(t, "redis: "+tt.redis+"\n"+oneRoute, cfg); err != nil {
				t.Fatal(err)
			}
			_, newErr := redisclient.New(cfg.Redis.ClientOptions())
			if newErr == nil {
				t.Fatal("redisclient.New accepted it")
			}
			err := cfg.Validate()
			wantProblems(t, err, []string{tt.problem})
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d problems, want this one only:\n%v", n, err)
			}
		})
	}
}

// TestDefaultsAreTheOwners: the defaults of settings whose package has its own are
// that package's, so a zero in Options and a missing key in the file mean the same.
func TestDefaultsAreTheOwners(t *testing.T) {
	cfg, err := Parse([]byte("redis: {url: \"redis://127.0.0.1:6379\"}\n"+oneRoute), "", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	for name, pair := range map[string][2]any{
		"forward.timeout":     {r.Forward.Timeout, forward.DefaultTimeout},
		"forward.attempts":    {r.Forward.Attempts, forward.DefaultAttempts},
		"forward.budget":      {r.Forward.Budget, forward.DefaultBudget},
		"redis.dial_timeout":  {cfg.Redis.DialTimeout, redisclient.DefaultDialTimeout},
		"redis.read_timeout":  {cfg.Redis.ReadTimeout, redisclient.DefaultReadTimeout},
		"redis.write_timeout": {cfg.Redis.WriteTimeout, redisclient.DefaultWriteTimeout},
		"stripe.tolerance":    {r.Stripe.Tolerance, signature.DefaultTolerance},
		"stripe.api_timeout":  {r.Stripe.APITimeout, stripeapi.DefaultTimeout},
		"watch.interval":      {cfg.Watch.Interval, watch.DefaultInterval},
		"watch.window":        {cfg.Watch.Window, watch.DefaultWindow},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s defaults to %v, its package to %v", name, pair[0], pair[1])
		}
	}
}
