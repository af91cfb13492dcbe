// Package redisclient owns the one place where creditgate turns its Redis settings into a
// go-redis client: a redis:// or rediss:// URL for one server, Sentinel for a failover
// group, or a list of seed addresses for a Cluster. Every store (dedup, dead-letter list)
// receives the redis.UniversalClient that New returns; none of them dials Redis itself.
//
// Security: the Redis URL and the passwords are secret.Secret values, and no error that
// New returns contains them, even when the URL cannot be parsed.
package redisclient

import (
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// Defaults applied when the matching Options field is zero and the URL (if any) does not
// set it either. They are short on purpose: a webhook that waits for an unreachable store
// only delays the 503 that makes Stripe retry.
const (
	// DefaultDialTimeout bounds establishing one connection.
	DefaultDialTimeout = 2 * time.Second
	// DefaultReadTimeout bounds waiting for one reply.
	DefaultReadTimeout = 1 * time.Second
	// DefaultWriteTimeout bounds writing one command.
	DefaultWriteTimeout = 1 * time.Second
	// DefaultClientName is sent with CLIENT SETNAME so operators find creditgate's
	// connections in CLIENT LIST.
	DefaultClientName = "creditgate"
	// MaxPoolSize is the largest PoolSize: Redis serves 10 000 clients by default
	// (maxclients), and go-redis allocates room for the whole pool up front, so a
	// pool of 2^31 connections would exhaust memory before the first command.
	MaxPoolSize = 10_000
)

// Internal retry budget: one dial retry and two command retries, so that a dead store
// fails in well under a second plus the dial timeout instead of go-redis' 5 dial
// attempts per command attempt.
const (
	dialerRetries      = 2
	dialerRetryBackoff = 50 * time.Millisecond
	maxRetries         = 2
)

// Options selects and configures one Redis deployment. Exactly one of URL, Sentinel and
// ClusterAddrs must be set. The zero value is invalid (no deployment selected).
type Options struct {
	// URL is redis://[user[:password]@]host[:port][/db][?option=value] for one server, or
	// rediss://... for the same over TLS. Query options are go-redis' (dial_timeout,
	// pool_size, skip_verify, ...). It is a Secret because it may carry the password.
	URL secret.Secret

	// Username is the ACL user. Empty keeps the URL's user (or none: the default user).
	Username string

	// Password authenticates Username (or the default user). Empty keeps the URL's.
	Password secret.Secret

	// DB is the logical database. Zero keeps the URL's (/db path or ?db=), else 0.
	// Sentinel honours it; Cluster has only database 0 and rejects any other.
	DB int

	// Sentinel, when not nil, selects a Sentinel-managed failover group.
	Sentinel *SentinelOptions

	// ClusterAddrs, when not empty, selects Redis Cluster; these host:port seeds are used
	// to discover the rest of the cluster.
	ClusterAddrs []string

	// TLS configures TLS for every connection (data nodes and sentinels). A rediss://
	// URL turns TLS on by itself; the fields here then refine it.
	TLS TLSOptions

	// DialTimeout bounds establishing one connection.
	// Zero: the URL's dial_timeout, else DefaultDialTimeout (2s).
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for one reply.
	// Zero: the URL's read_timeout, else DefaultReadTimeout (1s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one command.
	// Zero: the URL's write_timeout, else DefaultWriteTimeout (1s).
	WriteTimeout time.Duration

	// PoolSize is the number of connections kept per node.
	// Zero: the URL's pool_size, else go-redis' default (10 per GOMAXPROCS). At most
	// MaxPoolSize.
	PoolSize int
}

// SentinelOptions selects a master through Redis Sentinel.
type SentinelOptions struct {
	// MasterName is the name the sentinels monitor the master under. Required.
	MasterName string
	// Addrs are the sentinels' host:port addresses. At least one is required.
	Addrs []string
	// Username is the ACL user for the sentinels themselves. Empty: the default user.
	Username string
	// Password authenticates to the sentinels. Empty: no AUTH to the sentinels.
	// (Options.Username and Options.Password authenticate to the master.)
	Password secret.Secret
}

// TLSOptions configures TLS. The zero value means "no TLS" unless the URL is rediss://.
// Verification is always on unless InsecureSkipVerify says otherwise; the minimum
// version is TLS 1.2.
type TLSOptions struct {
	// Enabled turns TLS on for redis:// URLs, Sentinel and Cluster. rediss:// implies it.
	Enabled bool
	// CAFile is a PEM bundle of the CAs to trust. Empty: the system roots.
	CAFile string
	// ServerName is the name the server certificate must carry.
	// Empty: the host of the URL, or of each address dialled.
	ServerName string
	// InsecureSkipVerify disables certificate verification. For tests only.
	InsecureSkipVerify bool
	// CertFile and KeyFile hold a client certificate and key (PEM) for mutual TLS.
	// Both or neither.
	CertFile, KeyFile string
}

// set reports whether any field asks for something of TLS.
func (t TLSOptions) set() bool {
	return t.CAFile != "" || t.ServerName != "" || t.InsecureSkipVerify || t.CertFile != "" || t.KeyFile != ""
}
