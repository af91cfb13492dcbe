package redisclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// pw needs escaping in a URL (the slash), pwEscaped is how it is written there.
const (
	pw        = "s3cr3t-P4ss/word"
	pwEscaped = "s3cr3t-P4ss%2Fword"
)

func sec(s string) secret.Secret { return secret.New(s) }

func TestURLMapping(t *testing.T) {
	certFile, keyFile := writeCert(t)
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, p plan)
	}{
		{"plain URL gets the package defaults", Options{URL: sec("redis://cache:6380/2")}, func(t *testing.T, p plan) {
			o := p.single
			eq(t, "addr", o.Addr, "cache:6380")
			eq(t, "db", o.DB, 2)
			eq(t, "tls", o.TLSConfig == nil, true)
			eq(t, "dial timeout", o.DialTimeout, DefaultDialTimeout)
			eq(t, "read timeout", o.ReadTimeout, DefaultReadTimeout)
			eq(t, "write timeout", o.WriteTimeout, DefaultWriteTimeout)
			eq(t, "pool size", o.PoolSize, 0)
			eq(t, "client name", o.ClientName, DefaultClientName)
			eq(t, "max retries", o.MaxRetries, maxRetries)
		}},
		{"rediss turns TLS on with the URL host as server name", Options{URL: sec("rediss://cache.example:6380")}, func(t *testing.T, p plan) {
			c := p.single.TLSConfig
			if c == nil {
				t.Fatal("no TLS config for rediss://")
			}
			eq(t, "server name", c.ServerName, "cache.example")
			eq(t, "min version", c.MinVersion, uint16(tls.VersionTLS12))
			eq(t, "insecure", c.InsecureSkipVerify, false)
		}},
		{"rediss with CA, server name, client cert", Options{URL: sec("rediss://10.0.0.1"), TLS: TLSOptions{CAFile: certFile, ServerName: "redis.internal", CertFile: certFile, KeyFile: keyFile}}, func(t *testing.T, p plan) {
			c := p.single.TLSConfig
			eq(t, "server name", c.ServerName, "redis.internal")
			eq(t, "root CAs", c.RootCAs != nil, true)
			eq(t, "client certs", len(c.Certificates), 1)
		}},
		{"skip_verify in the URL is kept", Options{URL: sec("rediss://h?skip_verify=true")}, func(t *testing.T, p plan) {
			eq(t, "insecure", p.single.TLSConfig.InsecureSkipVerify, true)
		}},
		{"TLS.Enabled turns TLS on for redis://", Options{URL: sec("redis://h"), TLS: TLSOptions{Enabled: true, InsecureSkipVerify: true}}, func(t *testing.T, p plan) {
			eq(t, "tls", p.single.TLSConfig != nil, true)
			eq(t, "server name", p.single.TLSConfig.ServerName, "h")
			eq(t, "insecure", p.single.TLSConfig.InsecureSkipVerify, true)
		}},
		{"ACL user and password from the URL", Options{URL: sec("redis://app:" + pwEscaped + "@h")}, func(t *testing.T, p plan) {
			eq(t, "user", p.single.Username, "app")
			eq(t, "password", p.single.Password, pw)
		}},
		{"password without user from the URL", Options{URL: sec("redis://:" + pwEscaped + "@h")}, func(t *testing.T, p plan) {
			eq(t, "user", p.single.Username, "")
			eq(t, "password", p.single.Password, pw)
		}},
		{"Username and Password override the URL's", Options{URL: sec("redis://app:old@h"), Username: "ops", Password: secret.New(pw)}, func(t *testing.T, p plan) {
			eq(t, "user", p.single.Username, "ops")
			eq(t, "password", p.single.Password, pw)
		}},
		{"Password alone keeps the URL's user", Options{URL: sec("redis://app:old@h"), Password: secret.New(pw)}, func(t *testing.T, p plan) {
			eq(t, "user", p.single.Username, "app")
			eq(t, "password", p.single.Password, pw)
		}},
		{"DB overrides the URL's", Options{URL: sec("redis://h/3"), DB: 5}, func(t *testing.T, p plan) {
			eq(t, "db", p.single.DB, 5)
		}},
		{"URL query beats defaults", Options{URL: sec("redis://h?dial_timeout=7s&read_timeout=3s&pool_size=4&max_retries=-1")}, func(t *testing.T, p plan) {
			eq(t, "dial timeout", p.single.DialTimeout, 7*time.Second)
			eq(t, "read timeout", p.single.ReadTimeout, 3*time.Second)
			eq(t, "write timeout", p.single.WriteTimeout, DefaultWriteTimeout)
			eq(t, "pool size", p.single.PoolSize, 4)
			eq(t, "max retries", p.single.MaxRetries, -1)
		}},
		{"explicit fields beat the URL query", Options{URL: sec("redis://h?dial_timeout=7s&pool_size=4"), DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second, PoolSize: 9}, func(t *testing.T, p plan) {
			eq(t, "dial timeout", p.single.DialTimeout, time.Second)
			eq(t, "read timeout", p.single.ReadTimeout, 2*time.Second)
			eq(t, "write timeout", p.single.WriteTimeout, 3*time.Second)
			eq(t, "pool size", p.single.PoolSize, 9)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := build(tt.opts)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if p.single == nil || p.failover != nil || p.cluster != nil {
				t.Fatalf("want a single-server plan, got %+v", p)
			}
			tt.check(t, p)
		})
	}
}

func TestSentinelMapping(t *testing.T) {
	p, err := build(Options{
		Username: "app", Password: secret.New(pw), DB: 4,
		Sentinel: &SentinelOptions{MasterName: "mymaster", Addrs: []string{"s1:26379", "s2:26379"}, Username: "sent", Password: secret.New("sentinel-pw")},
		TLS:      TLSOptions{Enabled: true},
		PoolSize: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := p.failover
	if f == nil || p.single != nil || p.cluster != nil {
		t.Fatalf("want a failover plan, got %+v", p)
	}
	eq(t, "master", f.MasterName, "mymaster")
	eq(t, "addrs", strings.Join(f.SentinelAddrs, ","), "s1:26379,s2:26379")
	eq(t, "sentinel user", f.SentinelUsername, "sent")
	eq(t, "sentinel password", f.SentinelPassword, "sentinel-pw")
	eq(t, "user", f.Username, "app")
	eq(t, "password", f.Password, pw)
	eq(t, "db", f.DB, 4)
	eq(t, "pool", f.PoolSize, 7)
	eq(t, "tls", f.TLSConfig != nil && f.TLSConfig.ServerName == "", true)
	eq(t, "dial timeout", f.DialTimeout, DefaultDialTimeout)
	eq(t, "read timeout", f.ReadTimeout, DefaultReadTimeout)
}

func TestClusterMapping(t *testing.T) {
	p, err := build(Options{ClusterAddrs: []string{"n1:7000", "n2:7000"}, Username: "app", Password: secret.New(pw), ReadTimeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := p.cluster
	if c == nil || p.single != nil || p.failover != nil {
		t.Fatalf("want a cluster plan, got %+v", p)
	}
	eq(t, "addrs", strings.Join(c.Addrs, ","), "n1:7000,n2:7000")
	eq(t, "user", c.Username, "app")
	eq(t, "password", c.Password, pw)
	eq(t, "tls", c.TLSConfig == nil, true)
	eq(t, "read timeout", c.ReadTimeout, 4*time.Second)
	eq(t, "write timeout", c.WriteTimeout, DefaultWriteTimeout)
}

func TestNewReturnsTheRightClient(t *testing.T) {
	for _, o := range []Options{
		{URL: sec("redis://127.0.0.1:1")},
		{Sentinel: &SentinelOptions{MasterName: "m", Addrs: []string{"127.0.0.1:1"}}},
		{ClusterAddrs: []string{"127.0.0.1:1"}},
	} {
		c, err := New(o)
		if err != nil {
			t.Fatalf("New(%+v): %v", o, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // in the error
	}{
		{"nothing selected", Options{}, "set one of"},
		{"url and sentinel", Options{URL: sec("redis://h"), Sentinel: &SentinelOptions{MasterName: "m", Addrs: []string{"s:1"}}}, "only one"},
		{"url and cluster", Options{URL: sec("redis://h"), ClusterAddrs: []string{"n:1"}}, "only one"},
		{"sentinel without master", Options{Sentinel: &SentinelOptions{Addrs: []string{"s:1"}}}, "master name"},
		{"sentinel without addrs", Options{Sentinel: &SentinelOptions{MasterName: "m"}}, "at least one address"},
		{"cluster with db", Options{ClusterAddrs: []string{"n:1"}, DB: 2}, "only database 0"},
		{"empty cluster addr", Options{ClusterAddrs: []string{""}}, "empty address"},
		{"negative pool", Options{URL: sec("redis://h"), PoolSize: -1}, "pool size"},
		{"pool beyond MaxPoolSize", Options{URL: sec("redis://h"), PoolSize: MaxPoolSize + 1}, "pool size: must be between 0 and 10000, got 10001"},
		{"pool beyond MaxPoolSize (url)", Options{URL: sec("redis://h?pool_size=3000000000")}, "pool size 3000000000 is out of range"},
		{"negative timeout", Options{URL: sec("redis://h"), ReadTimeout: -time.Second}, "negative"},
		{"cert without key", Options{URL: sec("rediss://h"), TLS: TLSOptions{CertFile: "c.pem"}}, "go together"},
		{"tls options but tls off (url)", Options{URL: sec("redis://h"), TLS: TLSOptions{CAFile: "ca.pem"}}, "TLS is off"},
		{"tls options but tls off (cluster)", Options{ClusterAddrs: []string{"n:1"}, TLS: TLSOptions{ServerName: "x"}}, "not enabled"},
		{"missing CA file", Options{URL: sec("rediss://h"), TLS: TLSOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}}, "ca file"},
		{"CA file without PEM", Options{URL: sec("rediss://h"), TLS: TLSOptions{CAFile: writeFile(t, "junk.pem", "junk")}}, "no PEM"},
		{"bad scheme", Options{URL: sec("http://h")}, "invalid URL scheme"},
		{"bad db path", Options{URL: sec("redis://h/abc")}, "database number"},
		{"unknown query option", Options{URL: sec("redis://h?bogus=1")}, "unexpected option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestErrorsNeverShowThePassword(t *testing.T) {
	escaped := pwEscaped
	tests := []struct {
		name string
		opts Options
	}{
		{"bad scheme", Options{URL: sec("http://app:" + escaped + "@h")}},
		{"bad port", Options{URL: sec("redis://app:" + escaped + "@h:port")}},
		{"bad escape in password", Options{URL: sec("redis://app:" + pw + "%zz@h")}},
		{"raw slash in password", Options{URL: sec("redis://app:" + pw + "@h")}},
		{"bad db", Options{URL: sec("redis://app:" + escaped + "@h/x" + escaped)}},
		{"bad query", Options{URL: sec("redis://app:" + escaped + "@h?" + escaped + "=1")}},
		{"bad query value", Options{URL: sec("redis://app:" + escaped + "@h?dial_timeout=" + escaped)}},
		{"space in host", Options{URL: sec("redis://app:" + escaped + "@h h")}},
		{"url and cluster", Options{URL: sec("redis://app:" + escaped + "@h"), ClusterAddrs: []string{"n:1"}, Password: secret.New(pw)}},
		{"sentinel without master", Options{Sentinel: &SentinelOptions{Addrs: []string{"s:1"}, Password: secret.New(pw)}, Password: secret.New(pw)}},
		{"tls file missing", Options{URL: sec("rediss://app:" + escaped + "@h"), TLS: TLSOptions{CAFile: "/nonexistent/" + pw}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, shown := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, leak := range []string{pw, escaped, "s3cr3t"} {
					if strings.Contains(shown, leak) {
						t.Errorf("error shows the password (%q): %s", leak, shown)
					}
				}
			}
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCert writes a self-signed certificate (usable as CA and as client certificate).
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "creditgate test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}
