package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/secret"
)

// Limits enforced by Validate.
const (
	MinDedupTTL      = 72 * time.Hour // Stripe retries for up to 3 days
	MaxForwardBudget = 9 * time.Second
	LeaseMargin      = 2 * time.Second
	MaxTolerance     = time.Hour
	MaxAttempts      = 10
	MinKeyLength     = 16
	MaxBodyLimit     = 64 << 20
	// MinRecordTTL is the shortest life of a purchase record on routes that take
	// credits back: disputes come up to ~120 days after payment, refunds later still.
	MinRecordTTL = 4320 * time.Hour
	// MaxInvoiceUserWait keeps the wait inside Stripe's retry window.
	MaxInvoiceUserWait = 72 * time.Hour
)

var routeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Validate checks the whole config (defaults already applied) and returns every
// problem joined, or nil. Messages name the field and never quote a secret.
func (c *Config) Validate() error {
	v := &problems{}
	v.addr("listen", c.Listen)
	v.addr("admin_listen", c.AdminListen)
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		v.add("admin_listen", "must differ from listen: the admin endpoints never share the webhook port")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.add("log_level", "must be debug, info, warn or error, got %s", show(c.LogLevel))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > MaxBodyLimit {
		v.add("max_body_bytes", "must be between 1024 and %d, got %d", MaxBodyLimit, c.MaxBodyBytes)
	}
	c.validateEdge(v)
	if c.ShutdownTimeout < time.Second {
		v.add("shutdown_timeout", "must be at least 1s, got %s", c.ShutdownTimeout)
	}
	if c.LogFlushInterval < 0 || c.LogFlushInterval > MaxLogFlushInterval {
		v.add("log_flush_interval", "must be between 0s (every line at once) and %s, got %s", MaxLogFlushInterval, c.LogFlushInterval)
	}
	c.validateRedis(v)
	c.validateWatch(v)
	if c.Dedup.TTL < MinDedupTTL {
		v.add("dedup.ttl", "must be at least %s (Stripe retries for 3 days), got %s", MinDedupTTL, c.Dedup.TTL)
	}
	if c.Dedup.CustomerTTL < MinDedupTTL {
		v.add("dedup.customer_ttl", "must be at least %s, got %s", MinDedupTTL, c.Dedup.CustomerTTL)
	}
	if c.Dedup.RecordTTL < MinDedupTTL {
		v.add("dedup.record_ttl", "must be at least %s, got %s", MinDedupTTL, c.Dedup.RecordTTL)
	}
	if c.Dedup.Lease < time.Second {
		v.add("dedup.lease", "must be at least 1s, got %s", c.Dedup.Lease)
	}
	if len(c.Routes) == 0 {
		v.add("routes", "at least one route is required")
	}
	names, paths := map[string]int{}, map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			v.add(p+".name", "%s is already used by routes[%d]", show(r.Name), j)
		}
		names[r.Name] = i
		if j, dup := paths[r.Path]; dup {
			v.add(p+".path", "%s is already used by routes[%d]", show(r.Path), j)
		}
		paths[r.Path] = i
		c.validateRoute(v, p, r)
	}
	c.validateOverlap(v)
	return v.err()
}

func (c *Config) validateRedis(v *problems) {
	r := c.Redis
	// What the Redis client itself refuses, under the same names.
	for _, p := range redisclient.Check(r.ClientOptions()) {
		if p.Field == "" && !r.Enabled() {
			continue // no deployment chosen: the in-memory store
		}
		v.add(strings.TrimSuffix("redis."+p.Field, "."), "%s", p.Message)
	}
	if !r.URL.IsZero() {
		u, err := url.Parse(r.URL.Reveal())
		switch {
		case err != nil:
			v.add("redis.url", "is not a valid URL (value not shown: it may hold a password)")
		case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
			v.add("redis.url", "scheme must be redis://, rediss:// or unix://, got %s", show(u.Scheme))
		case u.Scheme != "unix" && u.Host == "":
			v.add("redis.url", "has no host")
		}
	}
	if s := r.Sentinel; s != nil {
		for i, a := range s.Addrs {
			if a != "" { // an empty one is redisclient.Check's
				v.addr(fmt.Sprintf("redis.sentinel.addrs[%d]", i), a)
			}
		}
	}
	for i, a := range r.ClusterAddrs {
		if a != "" {
			v.addr(fmt.Sprintf("redis.cluster_addrs[%d]", i), a)
		}
	}
	if r.DB > 15 {
		v.add("redis.db", "must be between 0 and 15, got %d", r.DB)
	}
	if r.KeyPrefix == "" || strings.ContainsAny(r.KeyPrefix, " \t\r\n{}") {
		v.add("redis.key_prefix", "must be non-empty without spaces or braces, got %s", show(r.KeyPrefix))
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"dial_timeout", r.DialTimeout}, {"read_timeout", r.ReadTimeout}, {"write_timeout", r.WriteTimeout}} {
		if t.d == 0 || t.d > time.Minute { // a negative one is redisclient.Check's
			v.add("redis."+t.name, "must be between 1ns and 1m, got %s", t.d)
		}
	}
	validateRedisSecrets(v, r)
}

func (c *Config) validateRoute(v *problems, p string, r *Route) {
	if !routeName.MatchString(r.Name) {
		v.add(p+".name", "must match %s, got %s", routeName, show(r.Name))
	}
	if !strings.HasPrefix(r.Path, "/") || path.Clean(r.Path) != r.Path {
		v.add(p+".path", "must be a clean absolute path like /stripe/webhook, got %s", show(r.Path))
	}
	// Stripe side.
	if len(r.Stripe.SigningSecrets) == 0 {
		v.add(p+".stripe.signing_secrets", "at least one signing secret (whsec_...) is required, in signing_secrets or signing_secrets_file")
	}
	for i, s := range r.Stripe.SigningSecrets {
		f := fmt.Sprintf("%s.stripe.signing_secrets[%d]", p, i)
		switch val := s.Reveal(); {
		case s.Problem() != "":
			v.add(f, "%s", s.Problem())
		case hasAnyPrefix(val, "sk_", "rk_", "pk_"):
			v.add(f, "looks like a Stripe API key, not a webhook signing secret (whsec_...); rotate that key, it was written into the config")
		}
	}
	if r.Stripe.Tolerance <= 0 || r.Stripe.Tolerance > MaxTolerance {
		v.add(p+".stripe.tolerance", "must be between 1s and %s, got %s", MaxTolerance, r.Stripe.Tolerance)
	}
	// Events.
	seen := map[string]bool{}
	for i, e := range r.Events {
		f := fmt.Sprintf("%s.events[%d]", p, i)
		if !outcome.SupportedEvents[e] {
			v.add(f, "%s is not a supported event type (supported: %s)", showEvent(e), strings.Join(supportedList(), ", "))
		}
		if seen[e] {
			v.add(f, "%s is listed twice", showEvent(e))
		}
		seen[e] = true
	}
	if r.Reversals() {
		c.validateReversals(v, p)
	}
	// Extraction.
	validSources(v, p+".extract.user_id", r.Extract.UserID, outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceCustomerMap, outcome.SourceSubscriptionUserID, outcome.SourceCustomerUserID)
	validSources(v, p+".extract.credits", r.Extract.Credits, outcome.SourceMetadataCredits, outcome.SourcePriceTable, outcome.SourcePriceMetadata)
	c.validateAPI(v, p, r)
	validateConnect(v, p, r)
	validateReads(v, p, r)
	if err := ValidUserIDFormat(r.Extract.UserIDFormat); err != nil {
		v.add(p+".extract.user_id_format", "%v", err)
	}
	if r.Extract.InvoiceUserWait < 0 || r.Extract.InvoiceUserWait > MaxInvoiceUserWait {
		v.add(p+".extract.invoice_user_wait", "must be between 0 and %s (Stripe stops retrying after 3 days), got %s", MaxInvoiceUserWait, r.Extract.InvoiceUserWait)
	}
	if r.Extract.MaxCredits < 1 || r.Extract.MaxCredits > 1<<53 {
		v.add(p+".extract.max_credits", "must be between 1 and 2^53, got %d", r.Extract.MaxCredits)
	}
	// Forwarding.
	switch err := forward.CheckURL(r.Forward.URL); {
	case errors.Is(err, forward.ErrURLFragment):
		v.add(p+".forward.url", "must not have a #fragment (it is never sent to the backend)")
	case err != nil:
		v.add(p+".forward.url", "must be an absolute http:// or https:// URL without credentials, got %s", show(r.Forward.URL))
	}
	if len(r.Forward.SigningKeys) == 0 {
		v.add(p+".forward.signing_keys", "at least one forwarding key is required, in signing_keys or signing_keys_file")
	}
	for i, k := range r.Forward.SigningKeys {
		if prob := k.Problem(); prob != "" {
			v.add(fmt.Sprintf("%s.forward.signing_keys[%d]", p, i), "%s", prob)
		} else if len(k.Reveal()) < MinKeyLength {
			v.add(fmt.Sprintf("%s.forward.signing_keys[%d]", p, i), "must be at least %d characters (use e.g. `openssl rand -hex 32`)", MinKeyLength)
		}
	}
	if r.Forward.Timeout <= 0 {
		v.add(p+".forward.timeout", "must be positive, got %s", r.Forward.Timeout)
	}
	if r.Forward.Attempts < 1 || r.Forward.Attempts > MaxAttempts {
		v.add(p+".forward.attempts", "must be between 1 and %d, got %d", MaxAttempts, r.Forward.Attempts)
	}
	if r.Forward.Budget <= 0 || r.Forward.Budget > MaxForwardBudget {
		v.add(p+".forward.budget", "must be between 1ns and %s so Stripe gets its answer in time, got %s", MaxForwardBudget, r.Forward.Budget)
	}
	c.validateLease(v, p, r)
}

// ValidUserIDFormat checks a route's extract.user_id_format.
func ValidUserIDFormat(f string) error {
	switch {
	case f == "" || f == "uuid" || f == "uuid4":
		return nil
	case strings.HasPrefix(f, "regexp:"):
		if _, err := regexp.Compile(strings.TrimPrefix(f, "regexp:")); err != nil {
			return fmt.Errorf("invalid regular expression: %v", err)
		}
		return nil
	}
	return fmt.Errorf(`must be "uuid", "uuid4", "regexp:<expression>" or empty, got %s`, show(f))
}

func validSources(v *problems, field string, got []string, allowed ...string) {
	seen := map[string]bool{}
	for i, s := range got {
		ok := false
		for _, a := range allowed {
			ok = ok || s == a
		}
		if !ok {
			v.add(fmt.Sprintf("%s[%d]", field, i), "unknown source %s (known: %s)", show(s), strings.Join(allowed, ", "))
		}
		if seen[s] {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%s is listed twice", show(s))
		}
		seen[s] = true
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// MaxShown is the longest value a problem message quotes. Longer values are described,
// not shown: a secret put into the wrong field (a key in path:, a password in listen:)
// is long, and check-config output ends up in CI logs.
const MaxShown = 24

// show quotes a configured value for a problem message without ever printing a
// secret: URLs lose their user info and query, long values are not shown at all.
func show(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		if s := secret.URL(v); len(s) <= 2*MaxShown+len(secret.Redacted) {
			return strconv.Quote(s)
		}
	}
	if len(v) > MaxShown {
		return fmt.Sprintf("a %d-character value (not shown: it may be a secret)", len(v))
	}
	return strconv.Quote(v)
}

var eventType = regexp.MustCompile(`^[a-z_.]{1,64}$`)

// showEvent quotes something shaped like an event type (no secret is), else show.
func showEvent(e string) string {
	if eventType.MatchString(e) {
		return strconv.Quote(e)
	}
	return show(e)
}

// problems collects "field: message" errors.
type problems struct{ list []error }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p *problems) addr(field, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		p.add(field, "must be host:port or :port, got %s", show(addr))
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func (p *problems) err() error { return errors.Join(p.list...) }

// validateReversals checks what a route that takes credits back needs: purchase
// records that outlive Stripe's dispute window and a restart.
func (c *Config) validateReversals(v *problems, p string) {
	if c.Dedup.RecordTTL < MinRecordTTL {
		v.add("dedup.record_ttl", "must be at least %s (180 days) because %s takes credits back: disputes come up to ~120 days after payment, got %s", MinRecordTTL, p, c.Dedup.RecordTTL)
	}
	if !c.Redis.Enabled() {
		v.add(p+".events", "lists reversal events, but the in-memory store loses every purchase record on restart (its refunds and disputes would be parked for good): configure redis")
	}
}

// supportedList is outcome.SupportedEvents in the order of the reference, for a message.
func supportedList() []string {
	return []string{outcome.EventSessionCompleted, outcome.EventAsyncPaymentSucceeded, outcome.EventInvoicePaid,
		outcome.EventChargeRefunded, outcome.EventDisputeCreated, outcome.EventDisputeClosed,
		outcome.EventDisputeUpdated, outcome.EventDisputeFundsWithdrawn, outcome.EventDisputeFundsReinstated,
		outcome.EventChargeRefundUpdated, outcome.EventRefundUpdated}
}

var connectAccount = regexp.MustCompile(`^acct_[A-Za-z0-9]{1,64}$`)

// validateAPI checks the Stripe API settings, the price table and Connect.
func (c *Config) validateAPI(v *problems, p string, r *Route) {
	usesTable := slices.Contains(r.Extract.Credits, outcome.SourcePriceTable)
	switch {
	case usesTable && len(r.Extract.PriceTable) == 0:
		v.add(p+".extract.price_table", "is empty, but extract.credits lists price_table")
	case !usesTable && len(r.Extract.PriceTable) > 0:
		v.add(p+".extract.price_table", "is set, but extract.credits does not list price_table, so it would never be used")
	}
	for _, price := range slices.Sorted(maps.Keys(r.Extract.PriceTable)) {
		n := r.Extract.PriceTable[price]
		if !priceID.MatchString(price) {
			v.add(p+".extract.price_table", "key %s is not a Stripe price id (price_... or plan_...)", show(price))
		}
		if n < 1 || n > r.Extract.MaxCredits {
			v.add(p+".extract.price_table", "%s gives %d credits, want 1 to extract.max_credits (%d)", show(price), n, r.Extract.MaxCredits)
		}
	}
	key := r.Stripe.APIKey.Reveal()
	switch {
	case r.UsesAPI() && key == "":
		v.add(p+".stripe.api_key_file", "is required: the route's sources or invoice.paid read the Stripe API")
	case key != "" && r.Stripe.APIKey.Problem() != "":
		v.add(p+".stripe.api_key_file", "%s", r.Stripe.APIKey.Problem())
	case key != "" && !hasAnyPrefix(key, "sk_", "rk_"):
		v.add(p+".stripe.api_key_file", "must hold a secret (sk_...) or restricted (rk_...) Stripe API key")
	case key != "" && r.Livemode != strings.Contains(key, "_live_"):
		v.add(p+".stripe.api_key_file", "holds a %s-mode key, but the route has livemode: %t", map[bool]string{true: "live", false: "test"}[strings.Contains(key, "_live_")], r.Livemode)
	}
	if r.Stripe.APITimeout < 100*time.Millisecond || r.Stripe.APITimeout > MaxForwardBudget {
		v.add(p+".stripe.api_timeout", "must be between 100ms and %s, got %s", MaxForwardBudget, r.Stripe.APITimeout)
	}
	if u, err := url.Parse(r.Stripe.APIBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		v.add(p+".stripe.api_base_url", "must be an http:// or https:// origin without path or credentials, got %s", show(r.Stripe.APIBaseURL))
	}
	if !r.Connect && len(r.ConnectAccounts) > 0 {
		v.add(p+".connect_accounts", "is set, but the route is not a Connect route (connect: true)")
	}
	for i, a := range r.ConnectAccounts {
		if !connectAccount.MatchString(a) {
			v.add(fmt.Sprintf("%s.connect_accounts[%d]", p, i), "must be a connected account id (acct_...), got %s", show(a))
		}
	}
}

var priceID = regexp.MustCompile(`^(price|plan)_[A-Za-z0-9_]{1,200}$`)
