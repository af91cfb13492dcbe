package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/testkit"
)

// Fixture values (internal/event/testdata, listed in event's TestDecodeFixtures).
const (
	paidFile    = "checkout_session_completed_paid_2020-08-27.json"
	paidEvent   = "evt_1VB8sKliP855QDHqPdtPe6eQ"
	paidSession = "cs_test_a1Xhx5T62Vle2SpMDHtC4SR4EEDEtxqpyZzibRGZj3l455qUR5tJY8w6"
	paidCust    = "cus_M3gzndZNeqz1fB"
	paidPI      = "pi_3DqGCvLcB9kb46xOTWU32wOK"
	paidCreated = 1717000000

	unpaidFile    = "checkout_session_completed_unpaid.json"
	unpaidEvent   = "evt_1NG04JTmflAfE5aVUh2YILpS"
	asyncFile     = "checkout_session_async_payment_succeeded.json"
	asyncEvent    = "evt_1I0eP5k1TOBSFnvlLNjy57AV"
	unpaidSession = "cs_test_a1u1wo1biWqc6yr4mMRtZ4gN3q8shEwd7gMsZKBWanjRZ2gvBpxnXDlG"

	freeFile = "checkout_session_completed_no_payment_required.json"

	connectFile    = "checkout_session_completed_connect.json"
	connectAccount = "acct_1bYhhkDlE8OUkVJV"

	user1 = "e747de39-1b54-4cd0-96eb-e68f155931e2"
	user2 = "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7"
	user3 = "9a0d6f3b-41c2-4e85-b7d9-3c8e1f2a6b40"

	route = "main"
	lease = 30 * time.Second
	ttl   = 720 * time.Hour
)

// start has sub-millisecond digits, so the truncation of ParkedAt shows.
var start = time.Date(2026, 11, 27, 19, 6, 22, 123456789, time.UTC)

func eventKey(id string) string    { return storekey.Event(route, id) }
func purchaseKey(id string) string { return storekey.Purchase(route, id) }

// delivery decodes a fixture. Tests change the View in Go for variants; Raw stays the
// fixture's bytes, which is what a dead-letter entry must keep.
func delivery(t testing.TB, file string) pipeline.Delivery {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "event", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := event.Decode(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return pipeline.Delivery{Raw: raw, Event: v}
}

// withoutUser removes every user id source from a delivery (metadata, client reference
// and customer), so it can only dead-letter as no_user_id.
func withoutUser(d pipeline.Delivery) pipeline.Delivery {
	d.Event.Object.Metadata = map[string]string{"credits": d.Event.Object.Metadata["credits"]}
	d.Event.Object.ClientReferenceID = ""
	d.Event.Object.Customer = ""
	return d
}

// backend is a fake Forwarder that models a backend honouring Idempotency-Key: the
// first request for an ID credits (200), a repeat answers 409. Scripted errors, taken
// in order, replace the model's answer (and credit nothing).
type backend struct {
	mu       sync.Mutex
	script   []error
	requests []forward.Request
	credited map[string]int64 // request ID → credits granted, once
	grants   int              // 200 answers: credits actually granted
	// lostAnswers: a scripted failure is applied before it is answered (the
	// backend took the credit, the answer was lost).
	lostAnswers bool
	// answered, when set, runs after each answer (outside the lock).
	answered func()
}

func newBackend(script ...error) *backend {
	return &backend{script: script, credited: map[string]int64{}}
}

func (b *backend) Send(_ context.Context, r forward.Request) (forward.Result, error) {
	res, err := b.send(r)
	if b.answered != nil {
		b.answered()
	}
	return res, err
}

func (b *backend) send(r forward.Request) (forward.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, r)
	if len(b.script) > 0 {
		err := b.script[0]
		b.script = b.script[1:]
		switch {
		case errors.Is(err, forward.ErrRejected):
			return forward.Result{Status: http.StatusUnprocessableEntity, Attempts: 1}, err
		case err != nil:
			if _, ok := b.credited[r.ID]; b.lostAnswers && !ok {
				b.credited[r.ID] = r.Credits
				b.grants++
			}
			return forward.Result{Status: http.StatusServiceUnavailable, Attempts: 3}, err
		}
	}
	if _, ok := b.credited[r.ID]; ok {
		return forward.Result{Status: http.StatusConflict, Attempts: 1, AlreadyCredited: true}, nil
	}
	b.credited[r.ID] = r.Credits
	b.grants++
	return forward.Result{Status: http.StatusOK, Attempts: 1}, nil
}

// applied returns the credits request id moved, if the backend applied it.
func (b *backend) applied(id string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.credited[id]
	return n, ok
}

// net is the credits the backend holds in total: grants less reversals.
func (b *backend) net() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, c := range b.credited {
		n += c
	}
	return n
}

func (b *backend) sent() []forward.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]forward.Request(nil), b.requests...)
}

func (b *backend) granted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.grants
}

var (
	errBackendDown = fmt.Errorf("%w: retry budget 8s spent after 3 attempts, last: 503", forward.ErrUnavailable)
	errBackendNo   = fmt.Errorf("%w: 422 Unprocessable Entity", forward.ErrRejected)
)

// env is a pipeline on the in-memory store and a dead-letter file, with one route.
type env struct {
	t     *testing.T
	clk   *testkit.Clock
	mem   *dedup.Memory
	cus   *ledger.MemoryCustomers // the customer map, its faults counted by store
	pay   *ledger.MemoryPayments  // the payments, their faults counted by store
	store *faultStore
	file  *deadletter.File
	dl    *faultList
	be    *backend
	p     *pipeline.Pipeline
	rt    *pipeline.Route
}

func newEnv(t *testing.T, be *backend) *env {
	t.Helper()
	clk := testkit.NewClock(start)
	mem := dedup.NewMemory(clk.Now)
	t.Cleanup(func() { _ = mem.Close() })
	file, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "dead-letters.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = file.Close() })
	x, err := extract.New(config.Extract{
		UserID:     config.DefaultUserIDSources,
		Credits:    config.DefaultCreditsSources,
		MaxCredits: config.DefaultMaxCredits,
	})
	if err != nil {
		t.Fatal(err)
	}
	if be == nil {
		be = newBackend()
	}
	e := &env{t: t, clk: clk, mem: mem, cus: ledger.NewMemoryCustomers(clk.Now), pay: ledger.NewMemoryPayments(clk.Now), file: file, be: be}
	e.store = &faultStore{Store: mem}
	e.dl = &faultList{innerList: file}
	e.p = &pipeline.Pipeline{Store: e.store, DeadLetters: e.dl, TTL: ttl, Lease: lease, Now: clk.Now,
		Customers: faultCustomers{e.store, e.cus}, Payments: faultPayments{e.store, e.pay}}
	e.rt = &pipeline.Route{
		Name:      route,
		Events:    map[string]bool{outcome.EventSessionCompleted: true, outcome.EventAsyncPaymentSucceeded: true},
		Extractor: x, Forwarder: be,
	}
	return e
}

func (e *env) process(d pipeline.Delivery) pipeline.Outcome {
	e.t.Helper()
	return e.p.Process(context.Background(), e.rt, d)
}

// Key states as a fresh delivery would find them.
const (
	free = "free" // a fresh Claim gets Claimed
	done = "done"
	held = "held" // in flight: claimed by someone
)

// state probes key on the underlying store without changing it.
func (e *env) state(key string) string {
	e.t.Helper()
	ctx := context.Background()
	tok := dedup.NewToken()
	st, err := e.mem.Claim(ctx, key, tok, time.Second)
	if err != nil {
		e.t.Fatalf("probe %s: %v", key, err)
	}
	switch st {
	case dedup.Claimed:
		if err := e.mem.Release(ctx, key, tok); err != nil {
			e.t.Fatalf("probe %s: release: %v", key, err)
		}
		return free
	case dedup.Done:
		return done
	case dedup.InFlight:
		return held
	}
	e.t.Fatalf("probe %s: state %v", key, st)
	return ""
}

func (e *env) wantKeys(eventID, sessionID, wantEvent, wantPurchase string) {
	e.t.Helper()
	if got := e.state(eventKey(eventID)); got != wantEvent {
		e.t.Errorf("event key: %s, want %s", got, wantEvent)
	}
	if got := e.state(purchaseKey(sessionID)); got != wantPurchase {
		e.t.Errorf("purchase key: %s, want %s", got, wantPurchase)
	}
}

// claimElsewhere holds key as another request would.
func (e *env) claimElsewhere(key string) {
	e.t.Helper()
	if st, err := e.mem.Claim(context.Background(), key, dedup.NewToken(), lease); err != nil || st != dedup.Claimed {
		e.t.Fatalf("claim %s: %v, %v", key, st, err)
	}
}

func (e *env) complete(key string) {
	e.t.Helper()
	if err := e.mem.Complete(context.Background(), key, ttl); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) entries() []deadletter.Entry {
	e.t.Helper()
	es, err := e.file.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// wantEntry checks that the dead-letter list holds exactly one entry, for d, parked
// now with reason and o's detail, keeping the raw payload byte for byte.
func (e *env) wantEntry(d pipeline.Delivery, o pipeline.Outcome, reason outcome.Reason, replays int) {
	e.t.Helper()
	es := e.entries()
	if len(es) != 1 {
		e.t.Fatalf("dead-letter list has %d entries, want 1: %+v", len(es), es)
	}
	got := es[0]
	want := deadletter.Entry{
		ID: route + ":" + d.Event.ID, Route: route, EventID: d.Event.ID, EventType: d.Event.Type,
		Reason: string(reason), Detail: o.Detail, Replays: replays, Payload: string(d.Raw),
	}
	wantAt := e.clk.Now().Truncate(time.Millisecond)
	if !got.ParkedAt.Equal(wantAt) || got.ParkedAt.Location() != time.UTC {
		e.t.Errorf("ParkedAt = %v, want %v (UTC, milliseconds)", got.ParkedAt, wantAt)
	}
	got.ParkedAt = time.Time{}
	if got.Payload != want.Payload {
		e.t.Errorf("payload differs from the raw body (%d bytes, want %d)", len(got.Payload), len(want.Payload))
	}
	got.Payload, want.Payload = "", ""
	if got != want {
		e.t.Errorf("entry = %+v\nwant    %+v", got, want)
	}
}

// faultStore wraps a Store and fails the nth call of one method with an error
// wrapping dedup.ErrUnavailable. With after, the call reaches the store first (the
// write lands, the answer is lost, as with a timeout).
type faultStore struct {
	dedup.Store
	mu     sync.Mutex
	method string
	nth    int
	after  bool
	calls  map[string]int
	fired  bool
	down   bool // every call fails, as with Redis unreachable
}

// setDown makes every call fail (true), or none but the armed one (false).
func (s *faultStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *faultStore) arm(method string, nth int, after bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.method, s.nth, s.after, s.calls = method, nth, after, map[string]int{}
}

// fault counts a call and reports whether it is the one to fail.
func (s *faultStore) fault(method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
	if s.down {
		return true
	}
	if method == s.method && s.calls[method] == s.nth {
		s.fired = true
		return true
	}
	return false
}

func (s *faultStore) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func injected(method string) error {
	return fmt.Errorf("%w: injected fault in %s: i/o timeout", dedup.ErrUnavailable, method)
}

// faulted makes call, unless it is the call of method to fail: then it fails, after
// making the call with after (the write lands, the answer is lost).
func faulted[V any](s *faultStore, method string, call func() (V, error)) (V, error) {
	if s.fault(method) {
		if s.after {
			_, _ = call()
		}
		var zero V
		return zero, injected(method)
	}
	return call()
}

// noValue adapts a call that answers only an error to faulted.
func noValue(err error) (struct{}, error) { return struct{}{}, err }

func (s *faultStore) Claim(ctx context.Context, key, token string, lease time.Duration) (dedup.State, error) {
	return faulted(s, "Claim", func() (dedup.State, error) { return s.Store.Claim(ctx, key, token, lease) })
}

func (s *faultStore) Complete(ctx context.Context, key string, ttl time.Duration) error {
	_, err := faulted(s, "Complete", func() (struct{}, error) { return noValue(s.Store.Complete(ctx, key, ttl)) })
	return err
}

func (s *faultStore) Release(ctx context.Context, key, token string) error {
	_, err := faulted(s, "Release", func() (struct{}, error) { return noValue(s.Store.Release(ctx, key, token)) })
	return err
}

// faultCustomers is the customer map with faults on its calls ("Customer", "Learn"),
// counted with the store's.
type faultCustomers struct {
	s *faultStore
	m ledger.Customers
}

func (f faultCustomers) Customer(ctx context.Context, route, customerID string) (string, bool, error) {
	if f.s.fault("Customer") {
		return "", false, injected("Customer")
	}
	return f.m.Customer(ctx, route, customerID)
}

func (f faultCustomers) Learn(ctx context.Context, route, customerID, userID string, ttl time.Duration) (string, error) {
	return faulted(f.s, "Learn", func() (string, error) { return f.m.Learn(ctx, route, customerID, userID, ttl) })
}

// faultPayments is the payments with faults on Hold, counted with the store's.
type faultPayments struct {
	s *faultStore
	m ledger.Payments
}

func (f faultPayments) Hold(ctx context.Context, route, payment, purchaseID string, ttl time.Duration) (string, error) {
	return faulted(f.s, "Hold", func() (string, error) { return f.m.Hold(ctx, route, payment, purchaseID, ttl) })
}

// innerList names the embedded List, whose List method would clash with a field
// called List.
type innerList = deadletter.List

// faultList wraps a dead-letter List and fails its nth Park, as a failed fsync would.
type faultList struct {
	innerList
	mu      sync.Mutex
	failNth int
	parks   int
}

func (l *faultList) Park(ctx context.Context, e deadletter.Entry) error {
	l.mu.Lock()
	l.parks++
	fail := l.parks == l.failNth
	l.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: injected fsync failure", deadletter.ErrUnavailable)
	}
	return l.innerList.Park(ctx, e)
}

func is2xx(r outcome.Result) bool { return r.Status() >= 200 && r.Status() < 300 }

// ClaimEach and Settle are built from the single calls, so that every fault of the
// table hits the same key inside a batch as it would alone.
func (s *faultStore) ClaimEach(ctx context.Context, lease time.Duration, cs []dedup.Claim) {
	s.fault("ClaimEach") // counted, never failed as a whole: the faults hit the calls inside
	for i := range cs {
		cs[i].State, cs[i].Err = s.Claim(ctx, cs[i].Key, cs[i].Token, lease)
	}
}

func (s *faultStore) Settle(ctx context.Context, st dedup.Settlement) error {
	s.fault("Settle") // counted, never failed as a whole: the faults hit the calls inside
	var errs []error
	for _, k := range st.Keys {
		errs = append(errs, s.Complete(ctx, k, st.TTL))
	}
	return errors.Join(errs...)
}
