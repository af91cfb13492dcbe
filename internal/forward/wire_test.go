package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// TestWireFormat is the backend's side of the contract (docs/design.md §5): what arrives, and
// that Stripe's own helper verifies it with every configured key.
func TestWireFormat(t *testing.T) {
	b := newBackend(t, status(http.StatusCreated))
	c := newClient(t, fastOptions(b.URL+"/internal/credits"))
	r := sampleRequest()
	if _, err := c.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("backend saw %d requests", len(reqs))
	}
	got := reqs[0]

	if got.method != http.MethodPost || got.path != "/internal/credits" {
		t.Errorf("request line = %s %s", got.method, got.path)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": r.ID,
		"User-Agent":      "creditgate/test",
	} {
		if v := got.header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want exactly %q", name, v, want)
		}
	}

	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.body, want) {
		t.Errorf("body =\n%s\nwant the JSON of the Request\n%s", got.body, want)
	}
	golden(t, "forward_request.golden.json", got.body)

	sig := got.header.Get(HeaderSignature)
	if n := strings.Count(sig, ",v1="); n != 2 || !strings.HasPrefix(sig, "t=") {
		t.Errorf("%s = %q, want t= and one v1 per key", HeaderSignature, sig)
	}
	if got.contentLength != int64(len(got.body)) {
		t.Errorf("Content-Length = %d, want %d (not chunked)", got.contentLength, len(got.body))
	}
	for i, k := range c.keys {
		if err := webhook.ValidatePayload(got.body, sig, k.Reveal()); err != nil {
			t.Errorf("stripe-go does not verify the signature with key %d: %v", i+1, err)
		}
	}
	if err := webhook.ValidatePayload(got.body, sig, "some_other_key"); !errors.Is(err, webhook.ErrNoValidSignature) {
		t.Errorf("an unrelated key verified: %v", err)
	}
	tampered := bytes.Replace(got.body, []byte(`"credits":100`), []byte(`"credits":900`), 1)
	if err := webhook.ValidatePayload(tampered, sig, keyOld.Reveal()); err == nil {
		t.Error("a tampered body verified")
	}
}

func TestEveryAttemptIsSignedAfresh(t *testing.T) {
	b := newBackend(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	o := fastOptions(b.URL)
	clock := time.Now().Add(-10 * time.Minute)
	o.Now = func() time.Time { clock = clock.Add(5 * time.Minute); return clock } // one call per attempt
	if _, err := newClient(t, o).Send(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, req := range b.requests() {
		sig := req.header.Get(HeaderSignature)
		ts, _, _ := strings.Cut(sig, ",")
		if seen[ts] {
			t.Errorf("attempt %d reused timestamp %s", i+1, ts)
		}
		seen[ts] = true
		if err := webhook.ValidatePayloadIgnoringTolerance(req.body, sig, keyNew.Reveal()); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("saw %d attempts, want 3", len(seen))
	}
}

func TestInjectAddsHeadersButCannotOverrideOurs(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	type ctxKey struct{}
	b := newBackend(t, status(http.StatusOK))
	o := fastOptions(b.URL)
	o.Inject = func(ctx context.Context, h http.Header) {
		h.Set("traceparent", ctx.Value(ctxKey{}).(string))
		h.Set(HeaderIdempotency, "spoofed")
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, tp)
	if _, err := newClient(t, o).Send(ctx, sampleRequest()); err != nil {
		t.Fatal(err)
	}
	h := b.requests()[0].header
	if h.Get("Traceparent") != tp {
		t.Errorf("traceparent = %q", h.Get("Traceparent"))
	}
	if h.Get(HeaderIdempotency) != sampleRequest().ID {
		t.Errorf("Idempotency-Key = %q", h.Get(HeaderIdempotency))
	}
}

// golden compares got with testdata/name; -update rewrites the file. The file holds the
// exact bytes plus one trailing newline.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got = append(bytes.Clone(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:  %s\nwant: %s", path, got, want)
	}
}
