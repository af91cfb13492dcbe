package redisclient

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/secret"
)

// New builds the client for the deployment that o selects: a *redis.Client for a URL, a
// failover *redis.Client for Sentinel, a *redis.ClusterClient for Cluster. It does not
// connect; the first command does, so check reachability with a store's
// VerifyConnection. The caller owns the client and closes it once, after every store
// that uses it.
//
// New reports every problem it finds, joined. No error contains the URL or a password.
func New(o Options) (redis.UniversalClient, error) {
	p, err := build(o)
	if err != nil {
		return nil, redact(err, o)
	}
	// Dials report to link, so that outages log once per change (logging.go).
	switch {
	case p.cluster != nil:
		c := redis.NewClusterClient(p.cluster)
		c.OnNewNode(func(n *redis.Client) { n.AddHook(dialHook{link}) }) // a cluster dials through its nodes
		return c, nil
	case p.failover != nil:
		c := redis.NewFailoverClient(p.failover)
		c.AddHook(dialHook{link})
		return c, nil
	default:
		c := redis.NewClient(p.single)
		c.AddHook(dialHook{link})
		return c, nil
	}
}

// plan is the go-redis configuration New hands to exactly one constructor.
type plan struct {
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

func build(o Options) (plan, error) {
	if err := o.check(); err != nil {
		return plan{}, err
	}
	switch {
	case o.Sentinel != nil:
		fo, err := failoverOptions(o)
		return plan{failover: fo}, err
	case len(o.ClusterAddrs) > 0:
		co, err := clusterOptions(o)
		return plan{cluster: co}, err
	default:
		so, err := urlOptions(o)
		return plan{single: so}, err
	}
}

// check finds the problems that do not depend on the chosen deployment.
func (o Options) check() error {
	var errs []error
	for _, p := range Check(o) {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// urlOptions maps the URL form. Explicit Options fields win over the URL, the URL wins
// over the package defaults.
func urlOptions(o Options) (*redis.Options, error) {
	raw := o.URL.Reveal()
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input, and fragments of it, in its errors.
		return nil, errors.New("redisclient: url is not a valid URL (not shown: it may hold a password)")
	}
	ro, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redisclient: url: %w", err)
	}
	if o.Username != "" {
		ro.Username = o.Username
	}
	if !o.Password.IsZero() {
		ro.Password = o.Password.Reveal()
	}
	if o.DB != 0 {
		ro.DB = o.DB
	}
	if u.Scheme == "rediss" || o.TLS.Enabled {
		t := o.TLS
		// ParseURL maps ?skip_verify=true onto its own TLS config; keep that.
		t.InsecureSkipVerify = t.InsecureSkipVerify || (ro.TLSConfig != nil && ro.TLSConfig.InsecureSkipVerify)
		if ro.TLSConfig, err = tlsConfig(t, u.Hostname()); err != nil {
			return nil, err
		}
	} else if o.TLS.set() {
		return nil, errors.New("redisclient: tls options are set but TLS is off (use rediss:// or enable tls)")
	}
	ro.DialTimeout = cmp.Or(o.DialTimeout, ro.DialTimeout, DefaultDialTimeout)
	ro.ReadTimeout = cmp.Or(o.ReadTimeout, ro.ReadTimeout, DefaultReadTimeout)
	ro.WriteTimeout = cmp.Or(o.WriteTimeout, ro.WriteTimeout, DefaultWriteTimeout)
	ro.PoolSize = cmp.Or(o.PoolSize, ro.PoolSize)
	if ro.PoolSize > MaxPoolSize { // the URL's ?pool_size=
		return nil, fmt.Errorf("redisclient: url: pool size %d is out of range (at most %d)", ro.PoolSize, MaxPoolSize)
	}
	ro.ClientName = cmp.Or(ro.ClientName, DefaultClientName)
	ro.MaxRetries = cmp.Or(ro.MaxRetries, maxRetries)
	ro.DialerRetries = dialerRetries
	ro.DialerRetryTimeout = dialerRetryBackoff
	return ro, nil
}

func failoverOptions(o Options) (*redis.FailoverOptions, error) {
	t, err := tlsFor(o.TLS)
	if err != nil {
		return nil, err
	}
	return &redis.FailoverOptions{
		MasterName:         o.Sentinel.MasterName,
		SentinelAddrs:      slices.Clone(o.Sentinel.Addrs),
		SentinelUsername:   o.Sentinel.Username,
		SentinelPassword:   o.Sentinel.Password.Reveal(),
		ClientName:         DefaultClientName,
		Username:           o.Username,
		Password:           o.Password.Reveal(),
		DB:                 o.DB,
		MaxRetries:         maxRetries,
		DialTimeout:        cmp.Or(o.DialTimeout, DefaultDialTimeout),
		DialerRetries:      dialerRetries,
		DialerRetryTimeout: dialerRetryBackoff,
		ReadTimeout:        cmp.Or(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:       cmp.Or(o.WriteTimeout, DefaultWriteTimeout),
		PoolSize:           o.PoolSize,
		TLSConfig:          t,
	}, nil
}

func clusterOptions(o Options) (*redis.ClusterOptions, error) {
	t, err := tlsFor(o.TLS)
	if err != nil {
		return nil, err
	}
	return &redis.ClusterOptions{
		Addrs:              slices.Clone(o.ClusterAddrs),
		ClientName:         DefaultClientName,
		Username:           o.Username,
		Password:           o.Password.Reveal(),
		MaxRetries:         maxRetries,
		DialTimeout:        cmp.Or(o.DialTimeout, DefaultDialTimeout),
		DialerRetries:      dialerRetries,
		DialerRetryTimeout: dialerRetryBackoff,
		ReadTimeout:        cmp.Or(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:       cmp.Or(o.WriteTimeout, DefaultWriteTimeout),
		PoolSize:           o.PoolSize,
		TLSConfig:          t,
	}, nil
}

// tlsFor is the TLS config for Sentinel and Cluster, where only Enabled turns TLS on.
// An empty ServerName lets crypto/tls check each dialled host.
func tlsFor(t TLSOptions) (*tls.Config, error) {
	if !t.Enabled {
		if t.set() {
			return nil, errors.New("redisclient: tls options are set but tls is not enabled")
		}
		return nil, nil
	}
	return tlsConfig(t, "")
}

func tlsConfig(t TLSOptions, host string) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cmp.Or(t.ServerName, host),
		InsecureSkipVerify: t.InsecureSkipVerify, // documented as tests-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redisclient: tls ca file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redisclient: tls ca file %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redisclient: tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// redact returns err, or a plain copy of its text with every secret of o replaced, when
// the text would show one (in clear or as it is escaped inside the URL).
func redact(err error, o Options) error {
	secrets := []string{o.URL.Reveal(), o.Password.Reveal()}
	if o.Sentinel != nil {
		secrets = append(secrets, o.Sentinel.Password.Reveal())
	}
	if u, perr := url.Parse(o.URL.Reveal()); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.PathEscape(p), url.QueryEscape(p), u.User.String())
		}
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, secret.Redacted)
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
