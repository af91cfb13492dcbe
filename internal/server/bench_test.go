package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/jsonlog"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
	"github.com/creditgate/creditgate/internal/signature"
	"github.com/creditgate/creditgate/internal/testkit"
)

// BenchmarkWebhook is the whole webhook handler in-process, for one ~3 KB
// checkout.session.completed: read the body, verify the signature, decode, the two
// claims, extraction and validation, building, signing and sending the forwarded
// request through the real forward.Client (to a fake backend: an http.RoundTripper
// that answers 200 in-process), marking done, the metrics and the canonical JSON log
// line (to io.Discard). The store is a fake that answers at once, so this is
// creditgate's own CPU work without the network. Run with -benchmem.
func BenchmarkWebhook(b *testing.B) {
	for _, tc := range []struct {
		name  string
		state dedup.State
		sig   bool
		want  int
	}{
		{"forwarded", dedup.Claimed, true, http.StatusOK},
		{"duplicate", dedup.Done, true, http.StatusOK},
		{"invalid_signature", dedup.Claimed, false, http.StatusBadRequest},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body, err := os.ReadFile("../event/testdata/checkout_session_completed_paid_2024-06-20.json")
			if err != nil {
				b.Fatal(err)
			}
			now := time.Unix(1_725_002_400, 0)
			secrets := []secret.Secret{secret.New("whsec_bench_0123456789abcdef")}
			header := signature.Sign(body, secrets, now)
			if !tc.sig {
				header = signature.Sign(body, []secret.Secret{secret.New("whsec_someone_else")}, now)
			}
			h := benchHandler(b, &benchStore{state: tc.state}, secrets, now)
			req, _ := http.NewRequest(http.MethodPost, "http://creditgate/stripe/webhook", nil)
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set(signature.StripeHeader, header)
			rd := &benchBody{}
			w := &benchWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			stop := testkit.CPUPerOp(b)
			for b.Loop() {
				rd.Reset(body)
				req.Body = rd
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != tc.want {
					b.Fatalf("status %d, want %d", w.code, tc.want)
				}
			}
			stop()
		})
	}
}

func benchHandler(b *testing.B, store dedup.Store, secrets []secret.Secret, now time.Time) http.Handler {
	b.Helper()
	log := slog.New(jsonlog.New(io.Discard, nil)) // the handler creditgate logs with
	x, err := extract.New(config.Extract{
		UserID: config.DefaultUserIDSources, UserIDFormat: "uuid",
		Credits: config.DefaultCreditsSources, MaxCredits: 1_000_000,
	})
	if err != nil {
		b.Fatal(err)
	}
	fw, err := forward.New(forward.Options{
		URL:    "http://backend.invalid/internal/credits",
		Keys:   []secret.Secret{secret.New("fwd_bench_key_0123456789")},
		Client: &http.Client{Transport: benchBackend{}},
		Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	pr := &pipeline.Route{
		Name: "main", Events: map[string]bool{outcome.EventSessionCompleted: true},
		Extractor: x, Forwarder: fw,
	}
	m := metrics.New(prometheus.NewRegistry(), "bench")
	m.InitRoute("main", nil)
	return server.NewWebhookHandler(server.Deps{
		Logger:  log,
		Metrics: m,
		Pipeline: &pipeline.Pipeline{
			Store: store, DeadLetters: benchDeadLetters{}, TTL: time.Hour, Lease: 30 * time.Second,
			Now: func() time.Time { return now }, Logger: log,
		},
		Routes:       []server.Route{{Path: "/stripe/webhook", Secrets: secrets, Pipeline: pr}},
		MaxBodyBytes: 1 << 20,
		Now:          func() time.Time { return now },
	})
}

// benchBackend answers every forwarded request 200 after reading its body.
type benchBackend struct{}

func (benchBackend) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// benchStore claims every key (or finds it in state) and stores nothing.
type benchStore struct{ state dedup.State }

func (s *benchStore) Claim(context.Context, string, string, time.Duration) (dedup.State, error) {
	return s.state, nil
}
func (s *benchStore) ClaimEach(_ context.Context, _ time.Duration, cs []dedup.Claim) {
	for i := range cs {
		cs[i].State = s.state
	}
}
func (s *benchStore) Complete(context.Context, string, time.Duration) error { return nil }
func (s *benchStore) Settle(context.Context, dedup.Settlement) error        { return nil }
func (s *benchStore) Release(context.Context, string, string) error         { return nil }
func (s *benchStore) VerifyConnection(context.Context) error                { return nil }
func (s *benchStore) Close() error                                          { return nil }

// benchDeadLetters is never reached by these cases.
type benchDeadLetters struct{}

func (benchDeadLetters) Park(context.Context, deadletter.Entry) error { return nil }
func (benchDeadLetters) List(context.Context) ([]deadletter.Entry, error) {
	return nil, nil
}
func (benchDeadLetters) Get(context.Context, string) (deadletter.Entry, error) {
	return deadletter.Entry{}, deadletter.ErrNotFound
}
func (benchDeadLetters) Delete(context.Context, string) error { return deadletter.ErrNotFound }
func (benchDeadLetters) Len(context.Context) (int, error)     { return 0, nil }
func (benchDeadLetters) Close() error                         { return nil }

// benchBody is a request body that can be rewound without allocating.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a ResponseWriter that keeps only the status.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
func (w *benchWriter) WriteHeader(code int) { w.code = code }
