package main

import (
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// grant is the body creditgate forwards (README "The backend's side", docs/design.md §5). It is
// decoded here from the documented wire format, not from creditgate's own types, so
// the soak checks the contract as a backend sees it.
type grant struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	UserID     string `json:"user_id"`
	Credits    int64  `json:"credits"`
	Livemode   bool   `json:"livemode"`
	OccurredAt string `json:"occurred_at"`
	Stripe     struct {
		EventID   string `json:"event_id"`
		EventType string `json:"event_type"`
		SessionID string `json:"session_id"`
		InvoiceID string `json:"invoice_id"`
	} `json:"stripe"`
}

// application is one credit the backend applied.
type application struct {
	key       string // Idempotency-Key
	userID    string
	credits   int64
	eventType string
	eventID   string
	sessionID string // stripe.session_id: the purchase a reversal belongs to
}

// misbehaviour is what the backend does to the requests of a window: each request gets
// a 5xx with probability fail, a connection reset with probability reset, and an answer
// slower than forward.timeout with probability slow (checked in that order).
type misbehaviour struct {
	name              string
	fail, reset, slow float64
}

// baseline is the background misbehaviour outside the scheduled windows, so faults
// also land at random moments of every other fault.
var baseline = &misbehaviour{name: "baseline", fail: 0.01, reset: 0.005, slow: 0.005}

// slowAnswer is how long a slow answer takes: past forward.timeout (1s), inside
// forward.budget (3s), so the attempt times out and creditgate tries again.
const (
	slowMin = 1200 * time.Millisecond
	slowMax = 2000 * time.Millisecond
)

// backend is the credit endpoint: it verifies Creditgate-Signature with stripe-go's
// webhook.ValidatePayload, honours Idempotency-Key (the first request for a key is
// applied and answered 200, later ones 409), records every request, and misbehaves
// as its current misbehaviour says. A full outage closes its listener and every
// connection, and reopens on the same port.
type backend struct {
	addr string
	key  string // forwarding key
	idem bool   // honour Idempotency-Key (false: apply every valid request, a negative control)

	mode atomic.Pointer[misbehaviour]

	rmu sync.Mutex
	rng *rand.Rand

	smu sync.Mutex
	srv *http.Server

	inflight  atomic.Int64
	onRequest atomic.Pointer[func(time.Time)] // the timeline's counter, once traffic starts
	// onApplied, when set, runs after a credit was applied and before its 200 goes out
	// (a fault that strikes between the backend's commit and creditgate's settlement).
	onApplied atomic.Pointer[func(grant)]

	mu      sync.Mutex
	ledger  map[string][]application // session id (body id) → credits applied
	keys    map[string]bool          // Idempotency-Keys applied
	stats   backendStats
	samples []string // a few bad requests, for the report
}

type backendStats struct {
	requests           int // every request that reached a handler
	applied            int // credits applied (answered 200, or applied before a fault)
	conflicts          int // answered 409: repeats caught by Idempotency-Key
	conflictsSameEvent int // … carrying the event id that was credited: a retry of one delivery
	conflictsGone      int // … to a caller that had already hung up (timed out, reset)
	failed             int // injected 5xx / 429
	resets             int // injected connection resets
	slow               int // answers slower than forward.timeout
	badSig             int // signature did not verify
	badRequest         int // body not a grant, or Idempotency-Key != body id
	outages            int
	readErrors         int
	lateApplied        int // applied after a slow wait (creditgate had given up on that attempt)
}

func newBackend(addr, key string, idem bool, seed uint64) *backend {
	b := &backend{
		addr: addr, key: key, idem: idem,
		rng:    rand.New(rand.NewPCG(seed, 0xbac0e4d)),
		ledger: map[string][]application{},
		keys:   map[string]bool{},
	}
	b.mode.Store(baseline)
	return b
}

// up starts serving on addr (again). The port may be in TIME_WAIT briefly after an
// outage, so listening is retried for a while.
func (b *backend) up() error {
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	b.smu.Lock()
	b.srv = srv
	b.smu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// down is a full outage: the listener and every open connection are closed (handlers
// already running go on, as a crashed process's database commits would).
func (b *backend) down() {
	b.smu.Lock()
	srv := b.srv
	b.srv = nil
	b.smu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	b.mu.Lock()
	b.stats.outages++
	b.mu.Unlock()
}

// setMode switches the misbehaviour; endMode switches back to the baseline only if m is
// still the current one (windows may overlap).
func (b *backend) setMode(m *misbehaviour) { b.mode.Store(m) }
func (b *backend) endMode(m *misbehaviour) { b.mode.CompareAndSwap(m, baseline) }

// action is what the backend does with one request.
type action int

const (
	actOK action = iota
	actFail
	actResetBefore // reset before applying: nothing happened
	actResetAfter  // apply, then reset: the credit is in, the answer is lost
	actSlowBefore  // wait past the timeout, then apply (a slow commit)
	actSlowAfter   // apply, then wait past the timeout (a slow answer)
)

func (b *backend) decide() (action, int, time.Duration) {
	m := b.mode.Load()
	b.rmu.Lock()
	defer b.rmu.Unlock()
	x := b.rng.Float64()
	slow := slowMin + time.Duration(b.rng.Int64N(int64(slowMax-slowMin)))
	switch {
	case x < m.fail:
		codes := []int{500, 502, 503, 503, 504, 429}
		return actFail, codes[b.rng.IntN(len(codes))], 0
	case x < m.fail+m.reset:
		if b.rng.IntN(2) == 0 {
			return actResetBefore, 0, 0
		}
		return actResetAfter, 0, 0
	case x < m.fail+m.reset+m.slow:
		if b.rng.IntN(2) == 0 {
			return actSlowBefore, 0, slow
		}
		return actSlowAfter, 0, slow
	}
	return actOK, 0, 0
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	b.mu.Lock()
	b.stats.requests++
	b.mu.Unlock()
	if f := b.onRequest.Load(); f != nil {
		(*f)(time.Now())
	}
	if err != nil {
		b.bump(func(s *backendStats) { s.readErrors++ })
		return
	}
	if err := webhook.ValidatePayload(body, r.Header.Get("Creditgate-Signature"), b.key); err != nil {
		b.bad(func(s *backendStats) { s.badSig++ }, "bad signature: "+err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var g grant
	if err := json.Unmarshal(body, &g); err != nil {
		b.bad(func(s *backendStats) { s.badRequest++ }, "not a grant: "+err.Error())
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	// The id is the Checkout Session (a subscription's first invoice included), or the
	// invoice of a later period; a reversal's, or a give-back's, is its event.
	purchase := g.Type == "credit.granted" && (g.Stripe.SessionID == g.ID || g.Stripe.InvoiceID == g.ID)
	reversal := (g.Type == "credit.reversed" && g.Credits < 0 || g.Type == "credit.granted" && g.Credits > 0) &&
		g.Stripe.EventID == g.ID && g.Stripe.SessionID != ""
	if key == "" || key != g.ID || !purchase && !reversal {
		b.bad(func(s *backendStats) { s.badRequest++ }, "Idempotency-Key "+strconv.Quote(key)+" id "+strconv.Quote(g.ID)+" type "+strconv.Quote(g.Type))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}

	act, code, slow := b.decide()
	switch act {
	case actFail:
		b.bump(func(s *backendStats) { s.failed++ })
		if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, "injected failure", code)
		return
	case actResetBefore:
		b.bump(func(s *backendStats) { s.resets++ })
		reset(w)
		return
	case actSlowBefore:
		b.bump(func(s *backendStats) { s.slow++ })
		time.Sleep(slow)
	}
	status := b.apply(key, g, act == actSlowBefore)
	if f := b.onApplied.Load(); f != nil && status == http.StatusOK {
		(*f)(g)
	}
	if status == http.StatusConflict && r.Context().Err() != nil {
		b.bump(func(s *backendStats) { s.conflictsGone++ })
	}
	switch act {
	case actResetAfter:
		b.bump(func(s *backendStats) { s.resets++ })
		reset(w)
		return
	case actSlowAfter:
		b.bump(func(s *backendStats) { s.slow++ })
		time.Sleep(slow)
	}
	w.WriteHeader(status)
}

// apply credits g once per Idempotency-Key: 200 the first time, 409 after.
func (b *backend) apply(key string, g grant, late bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idem && b.keys[key] {
		b.stats.conflicts++
		if prev := b.ledger[g.ID]; len(prev) > 0 && prev[0].eventID == g.Stripe.EventID {
			b.stats.conflictsSameEvent++
		}
		return http.StatusConflict
	}
	b.keys[key] = true
	b.ledger[g.ID] = append(b.ledger[g.ID], application{key: key, userID: g.UserID, credits: g.Credits, eventType: g.Stripe.EventType, eventID: g.Stripe.EventID, sessionID: g.Stripe.SessionID})
	b.stats.applied++
	if late {
		b.stats.lateApplied++
	}
	return http.StatusOK
}

// reset drops the connection with a TCP RST and no answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errors.New("backend: response writer cannot hijack"))
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (b *backend) bump(f func(*backendStats)) {
	b.mu.Lock()
	f(&b.stats)
	b.mu.Unlock()
}

func (b *backend) bad(f func(*backendStats), sample string) {
	b.mu.Lock()
	f(&b.stats)
	if len(b.samples) < 5 {
		b.samples = append(b.samples, sample)
	}
	b.mu.Unlock()
}

// drain waits until no handler runs (slow ones finish), for at most d.
func (b *backend) drain(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b.inflight.Load() == 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return b.inflight.Load() == 0
}

// snapshot copies the ledger and the counters.
func (b *backend) snapshot() (map[string][]application, backendStats, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := make(map[string][]application, len(b.ledger))
	for k, v := range b.ledger {
		l[k] = append([]application(nil), v...)
	}
	return l, b.stats, append([]string(nil), b.samples...)
}

func (b *backend) close() {
	b.smu.Lock()
	srv := b.srv
	b.srv = nil
	b.smu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}
