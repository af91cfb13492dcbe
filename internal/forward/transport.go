package forward

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns an *http.Client tuned for many small POSTs to a few backends:
// keep-alive with up to 64 idle connections per host, bounded dial, TLS handshake and
// response-header waits, HTTP/2 when the backend offers it over TLS, proxies from the
// environment (HTTPS_PROXY, NO_PROXY) as with http.DefaultTransport, and TLS 1.2 or later.
//
// It does not follow redirects: a 3xx reaches Send, which treats it as ErrDeployment. A
// redirect from a credit endpoint means the configured URL is wrong (http vs https, a
// missing slash, a moved service); following it would turn the POST into a GET under
// 301/302/303 or send the signed credit to a host nobody configured. Parking the credit
// in the dead-letter list makes the mistake visible, and replay delivers it once the URL
// is fixed.
//
// Create one and share it; every call makes a new connection pool.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, // a backstop; Send's per-attempt deadline is shorter
		ExpectContinueTimeout: time.Second,
	}
	// No Client.Timeout: every attempt of Send has its own deadline (forward.timeout,
	// inside forward.budget), and a client-wide timeout would cost each request a
	// timer, a context and a goroutine of net/http's on top of it.
	return &http.Client{Transport: t, CheckRedirect: refuseRedirect}
}

// refuseRedirect makes the client return the 3xx response itself, body unread.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
