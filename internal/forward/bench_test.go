package forward

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/creditgate/creditgate/internal/signature"
)

// BenchmarkSend is one forwarded credit over a kept-alive loopback connection. The
// allocations include the httptest server's, which runs in the same process.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	o := fastOptions(srv.URL)
	o.Client = NewHTTPClient()
	c := newClient(b, o)
	r := sampleRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild is the CPU work before the network: marshal the body, sign it with
// two keys (a rotation).
func BenchmarkBuild(b *testing.B) {
	c := newClient(b, fastOptions("http://backend/credits"))
	r := sampleRequest()
	b.ReportAllocs()
	for b.Loop() {
		body, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		_ = signature.Sign(body, c.keys, c.now())
	}
}
