package config

import (
	"slices"
	"time"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/signature"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// Defaults, in one place. Every zero field of a loaded Config takes the value here.
// A setting whose package has its own default (the forward, the Redis client, the
// signature check, the Stripe API client, the Stripe watch) takes that package's
// value, so the two cannot drift.
const (
	DefaultListen       = ":8080"
	DefaultAdminListen  = ":9090"
	DefaultLogLevel     = "info"
	DefaultMaxBodyBytes = 1 << 20
	// Edge limits (docs/security.md).
	DefaultMaxInflightBodyBytes = 32 << 20
	DefaultMaxConnections       = 512
	DefaultAdminMaxConnections  = 64
	DefaultWaitTimeout          = time.Second
	DefaultShutdownTimeout      = 20 * time.Second
	MaxLogFlushInterval         = 10 * time.Second
	DefaultKeyPrefix            = "creditgate:"
	DefaultRedisDial            = redisclient.DefaultDialTimeout
	DefaultRedisRead            = redisclient.DefaultReadTimeout
	DefaultRedisWrite           = redisclient.DefaultWriteTimeout
	DefaultDedupTTL             = 720 * time.Hour
	DefaultLease                = 30 * time.Second
	DefaultDeadLetterFile       = "creditgate-dead-letters.jsonl"
	DefaultTolerance            = signature.DefaultTolerance
	DefaultMaxCredits           = 1_000_000
	DefaultForwardTimeout       = forward.DefaultTimeout
	DefaultForwardAttempts      = forward.DefaultAttempts
	DefaultForwardBudget        = forward.DefaultBudget
	DefaultPath                 = "/stripe/webhook"
	DefaultAPITimeout           = stripeapi.DefaultTimeout
	DefaultAPIBaseURL           = "https://api.stripe.com"
	DefaultCustomerTTL          = 9600 * time.Hour
	DefaultRecordTTL            = MinRecordTTL
	DefaultInvoiceUserWait      = 24 * time.Hour
)

// Default event types of a route.
var DefaultEvents = []string{outcome.EventSessionCompleted, outcome.EventAsyncPaymentSucceeded}

// Default extraction sources.
var (
	DefaultUserIDSources  = []string{outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceCustomerMap}
	DefaultCreditsSources = []string{outcome.SourceMetadataCredits}
	// DefaultInvoiceUserIDSources are the user sources of a route that lists
	// invoice.paid: the subscription's metadata is where the README tells users to put
	// the user id (subscription_data.metadata.user_id).
	DefaultInvoiceUserIDSources = []string{outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceSubscriptionUserID, outcome.SourceCustomerMap}
)

// APISources are the sources that call the Stripe API.
var APISources = map[string]bool{
	outcome.SourceSubscriptionUserID: true,
	outcome.SourceCustomerUserID:     true,
	outcome.SourcePriceTable:         true,
	outcome.SourcePriceMetadata:      true,
}

// ApplyDefaults fills every zero field.
func (c *Config) ApplyDefaults() {
	setStr(&c.Listen, DefaultListen)
	setStr(&c.AdminListen, DefaultAdminListen)
	setStr(&c.LogLevel, DefaultLogLevel)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxInflightBodyBytes == 0 {
		c.MaxInflightBodyBytes = DefaultMaxInflightBodyBytes
	}
	setDur(&c.Redis.WaitTimeout, DefaultWaitTimeout)
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.AdminMaxConnections == 0 {
		c.AdminMaxConnections = DefaultAdminMaxConnections
	}
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setStr(&c.Redis.KeyPrefix, DefaultKeyPrefix)
	setDur(&c.Redis.DialTimeout, DefaultRedisDial)
	setDur(&c.Redis.ReadTimeout, DefaultRedisRead)
	setDur(&c.Redis.WriteTimeout, DefaultRedisWrite)
	setDur(&c.Dedup.TTL, DefaultDedupTTL)
	setDur(&c.Dedup.Lease, DefaultLease)
	setDur(&c.Dedup.CustomerTTL, DefaultCustomerTTL)
	setDur(&c.Dedup.RecordTTL, DefaultRecordTTL)
	setStr(&c.DeadLetter.File, DefaultDeadLetterFile)
	c.Watch.setDefaults()
	for i := range c.Routes {
		r := &c.Routes[i]
		setStr(&r.Path, DefaultPath)
		setDur(&r.Stripe.Tolerance, DefaultTolerance)
		setDur(&r.Stripe.APITimeout, DefaultAPITimeout)
		setStr(&r.Stripe.APIBaseURL, DefaultAPIBaseURL)
		if r.Stripe.APIReadsPerSecond == 0 {
			r.Stripe.APIReadsPerSecond = DefaultAPIReadsPerSec
		}
		if len(r.Events) == 0 {
			r.Events = append([]string(nil), DefaultEvents...)
		}
		if len(r.Extract.UserID) == 0 {
			r.Extract.UserID = append([]string(nil), DefaultUserIDSources...)
			if slices.Contains(r.Events, outcome.EventInvoicePaid) {
				r.Extract.UserID = append([]string(nil), DefaultInvoiceUserIDSources...)
			}
		}
		setDur(&r.Extract.InvoiceUserWait, DefaultInvoiceUserWait)
		if len(r.Extract.Credits) == 0 {
			r.Extract.Credits = append([]string(nil), DefaultCreditsSources...)
		}
		if r.Extract.MaxCredits == 0 {
			r.Extract.MaxCredits = DefaultMaxCredits
		}
		setDur(&r.Forward.Timeout, DefaultForwardTimeout)
		if r.Forward.Attempts == 0 {
			r.Forward.Attempts = DefaultForwardAttempts
		}
		setDur(&r.Forward.Budget, DefaultForwardBudget)
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}
