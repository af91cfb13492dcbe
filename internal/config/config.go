// Package config owns creditgate's configuration file: the documented structs, the
// defaults (all in one place, defaults.go), strict YAML decoding with ${ENV} expansion
// and *_file secrets (load.go), and validation that reports every problem at once
// (validate.go).
package config

import (
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
)

// Config is the whole file. See docs/config.md for the reference a user reads.
type Config struct {
	// Listen is the address of the webhook listener (Stripe's traffic). Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen is the address of /healthz, /readyz and /metrics. It must never be
	// reachable from the internet. Default ":9090".
	AdminListen string `yaml:"admin_listen"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// LogFlushInterval lets serve's log lines below ERROR wait up to this long to be
	// written together (one write for many webhooks); an ERROR line, 32 KiB of lines
	// and a stop write at once. Default 0: every line is written at once. At most 10s.
	LogFlushInterval time.Duration `yaml:"log_flush_interval"`
	// MaxBodyBytes caps a webhook body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflightBodyBytes caps the webhook bytes held in memory by all requests
	// together; a request that would go beyond it gets 503 overloaded (Stripe retries).
	// It counts bytes received, never the announced Content-Length. Default 32 MiB.
	MaxInflightBodyBytes int64 `yaml:"max_inflight_body_bytes"`
	// MaxConnections caps the open connections of the webhook listener. At the cap, a
	// new client makes room by closing the oldest connection that has not delivered
	// its body yet (or sits idle); when all are busy, it waits. Default 512.
	MaxConnections int `yaml:"max_connections"`
	// AdminMaxConnections caps the open connections of the admin listener. Default 64.
	AdminMaxConnections int `yaml:"admin_max_connections"`
	// ShutdownTimeout is how long SIGTERM waits for in-flight webhooks. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Redis names the shared store. Empty URL, Sentinel and ClusterAddrs: the in-memory
	// store (one replica only).
	Redis Redis `yaml:"redis"`
	// Dedup sets how long claims and done-markers live.
	Dedup Dedup `yaml:"dedup"`
	// DeadLetter configures the dead-letter list of the in-memory store.
	DeadLetter DeadLetter `yaml:"dead_letter"`
	// Routes are the webhook endpoints; at least one.
	Routes []Route `yaml:"routes"`
	// Watch checks each route's Stripe webhook endpoint in the background (watch.go).
	Watch Watch `yaml:"watch"`
}

// Redis selects and configures the Redis deployment. Exactly one of URL, Sentinel and
// ClusterAddrs may be set.
type Redis struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	URL     secret.Secret `yaml:"url"`
	URLFile string        `yaml:"url_file"`
	// Username is the ACL user; it overrides the URL's.
	Username string `yaml:"username"`
	// Password overrides the URL's; PasswordFile reads it from a file.
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// DB is the database number (not with Cluster).
	DB int `yaml:"db"`
	// Sentinel, when set, finds the master through Redis Sentinel.
	Sentinel *Sentinel `yaml:"sentinel"`
	// ClusterAddrs, when set, talks to a Redis Cluster.
	ClusterAddrs []string `yaml:"cluster_addrs"`
	// TLS configures TLS for Sentinel and Cluster (rediss:// turns it on for URL).
	TLS TLS `yaml:"tls"`
	// KeyPrefix starts every key creditgate writes. Default "creditgate:".
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each Redis call. Defaults 2s, 1s, 1s.
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the connection pool size per node; 0 is go-redis' default.
	PoolSize int `yaml:"pool_size"`
	// WaitReplicas is how many replicas must acknowledge a settlement or a dead-letter
	// entry (Redis WAIT) before Stripe gets its 200; fewer within WaitTimeout is a 503,
	// and Stripe delivers again. 0 (the default) waits for none: a Sentinel or Cluster
	// failover can then lose the last writes (docs/security.md).
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds each WAIT. Default 1s.
	WaitTimeout time.Duration `yaml:"wait_timeout"`
}

// Enabled reports whether a Redis deployment is configured.
func (r Redis) Enabled() bool {
	return !r.URL.IsZero() || r.Sentinel != nil || len(r.ClusterAddrs) > 0
}

// Sentinel is a Redis Sentinel deployment.
type Sentinel struct {
	MasterName   string        `yaml:"master_name"`
	Addrs        []string      `yaml:"addrs"`
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
}

// TLS configures TLS towards Redis.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Dedup configures the exactly-once keys (docs/design.md §4).
type Dedup struct {
	// TTL is how long "done" markers are kept. Default 720h (30 days): longer than
	// Stripe's 3-day retry window and its 30-day event retention.
	TTL time.Duration `yaml:"ttl"`
	// Lease is how long a claim stays "processing" if its holder dies. Default 30s. It
	// must exceed every route's forward.budget, so a live claim never expires under a
	// running forward.
	Lease time.Duration `yaml:"lease"`
	// CustomerTTL is how long a learned customer → user mapping lives after the last
	// session or grant that named it. Default 9600h (400 days): longer than a yearly
	// subscription's period, so every renewal finds and refreshes it.
	CustomerTTL time.Duration `yaml:"customer_ttl"`
	// RecordTTL is how long a purchase record (what a refund or dispute of it looks
	// for) lives after its last change. Default 4320h (180 days): disputes come up to
	// ~120 days after payment. Routes that take credits back need at least that.
	RecordTTL time.Duration `yaml:"record_ttl"`
}

// Reversals reports whether the route takes credits back (lists a outcome.ReversalEvents type).
func (r *Route) Reversals() bool {
	for _, e := range r.Events {
		if outcome.ReversalEvents[e] {
			return true
		}
	}
	return false
}

// DeadLetter configures where the in-memory store parks entries durably.
type DeadLetter struct {
	// File is the append-only JSON Lines file used when no Redis is configured.
	// A relative path is relative to the config file's folder, like every *_file.
	// Default "creditgate-dead-letters.jsonl" next to the config file.
	File string `yaml:"file"`
}

// Route is one webhook endpoint: one Stripe webhook endpoint, one backend URL.
type Route struct {
	// Name labels metrics and logs and is part of every dedup key. [a-z0-9_-]{1,32}.
	Name string `yaml:"name"`
	// Path is the URL path Stripe posts to, e.g. /stripe/webhook. "/" catches every path
	// that no other route names.
	Path string `yaml:"path"`
	// Livemode is the mode the route accepts; events of the other mode get 400.
	Livemode bool `yaml:"livemode"`
	// Stripe holds the endpoint's signing secrets.
	Stripe Stripe `yaml:"stripe"`
	// Events are the handled event types; others are answered 200 "ignored". Listing
	// charge.refunded or charge.dispute.* turns reversals on for the route.
	Events []string `yaml:"events"`
	// Connect makes the route a Connect endpoint: every event must name the connected
	// account (event.account), which is copied into the forwarded request, and a live
	// route answers the test events Stripe also sends it 200 "ignored".
	Connect bool `yaml:"connect"`
	// ConnectAccounts, when not empty, are the only connected accounts (acct_...) the
	// route credits; events of other accounts are answered 200 "ignored".
	ConnectAccounts []string `yaml:"connect_accounts"`
	// ConnectTrustAccounts lets a Connect route take credits from what its connected
	// accounts write themselves (metadata.credits, price_metadata). Default false: a
	// Connect route credits only through price_table, the platform's own list of
	// approved prices, because an account controls its sessions, metadata and Prices.
	ConnectTrustAccounts bool `yaml:"connect_trust_accounts"`
	// GrantNoPaymentRequired grants sessions with payment_status=no_payment_required
	// (100 % coupons, free trials). Default false: they are ignored.
	GrantNoPaymentRequired bool `yaml:"grant_no_payment_required"`
	// Extract says where user_id and credits come from.
	Extract Extract `yaml:"extract"`
	// Forward is the backend's credit endpoint.
	Forward Forward `yaml:"forward"`
}

// Stripe is a route's Stripe side.
type Stripe struct {
	// SigningSecrets are the endpoint's whsec_ secrets; every one is tried (rotation).
	SigningSecrets []secret.Secret `yaml:"signing_secrets"`
	// SigningSecretsFile has one secret per line (blank lines and # comments skipped);
	// its secrets are added to SigningSecrets.
	SigningSecretsFile string `yaml:"signing_secrets_file"`
	// Tolerance is the largest |now - t| accepted, both directions. Default 300s.
	Tolerance time.Duration `yaml:"tolerance"`
	// APIKeyFile holds the Stripe API key (sk_... or a restricted rk_...), needed by the
	// sources that call the API (price_table, price_metadata, customer.metadata.user_id,
	// subscription.metadata.user_id), by invoice.paid and by `creditgate reconcile`.
	APIKeyFile string        `yaml:"api_key_file"`
	APIKey     secret.Secret `yaml:"-"`
	// APITimeout bounds one Stripe API request (its retry included). Default 3s. All
	// API calls of a delivery also come out of forward.budget, which bounds the whole
	// answer when the API is used.
	APITimeout time.Duration `yaml:"api_timeout"`
	// APIBaseURL is the Stripe API's address. Default https://api.stripe.com; tests
	// point it at stripe-mock.
	APIBaseURL string `yaml:"api_base_url"`
	// APIReadsPerSecond is the read budget of the route's API key: every API read made
	// with the key (lookups, thin events, reconcile) takes a token; routes sharing a
	// key share one budget. Default 20 (Stripe allows 25 reads a second in test mode).
	APIReadsPerSecond int `yaml:"api_reads_per_second"`
	// WebhookEndpoint is the id (we_...) of the Stripe webhook endpoint that posts to
	// this route, for the watch. Empty: the watch finds the endpoints whose URL path
	// is the route's path.
	WebhookEndpoint string `yaml:"webhook_endpoint"`
}

// UsesAPI reports whether the route needs the Stripe API key.
func (r *Route) UsesAPI() bool {
	for _, s := range append(append([]string(nil), r.Extract.UserID...), r.Extract.Credits...) {
		if APISources[s] {
			return true
		}
	}
	for _, e := range r.Events {
		if e == outcome.EventInvoicePaid {
			return true
		}
	}
	return false
}

// Extract lists the sources of user_id and credits, tried in order.
type Extract struct {
	// UserID sources: metadata.user_id, client_reference_id, customer_map,
	// subscription.metadata.user_id, customer.metadata.user_id.
	// Default [metadata.user_id, client_reference_id, customer_map].
	UserID []string `yaml:"user_id"`
	// UserIDFormat is "uuid", "uuid4", "regexp:<expr>" (anchored), or empty for the
	// default: 1-128 printable characters without spaces.
	UserIDFormat string `yaml:"user_id_format"`
	// Credits sources: metadata.credits, price_table, price_metadata.
	// Default [metadata.credits].
	Credits []string `yaml:"credits"`
	// PriceTable maps a Stripe price id to the credits one unit of it gives; used by
	// the price_table source (credits = sum of quantity x value over the line items).
	PriceTable map[string]int64 `yaml:"price_table"`
	// MaxCredits is the largest grant accepted. Default 1000000.
	MaxCredits int64 `yaml:"max_credits"`
	// InvoiceUserWait is how long after its subscription started an invoice.paid whose
	// user no source names yet is answered 409 (Stripe retries) instead of parked
	// no_user_id: its Checkout Session may still be on its way. Default 24h.
	InvoiceUserWait time.Duration `yaml:"invoice_user_wait"`
}

// Forward is the backend side of a route.
type Forward struct {
	// URL is the backend's credit endpoint (http or https).
	URL string `yaml:"url"`
	// SigningKeys sign Creditgate-Signature; every key adds a v1 (rotation).
	SigningKeys     []secret.Secret `yaml:"signing_keys"`
	SigningKeysFile string          `yaml:"signing_keys_file"`
	// Timeout bounds one attempt. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is the number of tries inside Budget. Default 3.
	Attempts int `yaml:"attempts"`
	// Budget bounds all attempts and backoff together. Default 8s, so Stripe gets an
	// answer well inside its own timeout.
	Budget time.Duration `yaml:"budget"`
}
