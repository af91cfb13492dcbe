package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/demo"
)

// kind is what happens to a purchase on Stripe's side.
type kind int

const (
	kindPaid        kind = iota // checkout.session.completed, paid
	kindPaidTwice               // completed (paid) and async_payment_succeeded for one session
	kindPaysLater               // completed (unpaid), later async_payment_succeeded
	kindPaymentFail             // completed (unpaid), later async_payment_failed: never credited
	kindNoUser                  // completed (paid) without any user id: dead-lettered
	// Subscriptions (subscriptions.go): the invoices come from the soak's Stripe API.
	kindSubscription // subscription session + its first invoice, in random order: one grant (cs_)
	kindSubLate      // the same, the API lists the session only once its event is acknowledged
	kindTrial        // trial session, $0 first invoice, first paid renewal: one grant (in_)
	kindRenewal      // a renewal invoice, user on the subscription: one grant (in_)
	// Reversals (reversals.go): a paid session, then the events of its money.
	kindRefunds        // refunded in two parts: nothing left
	kindRefundFails    // half refunded, the refund fails: everything back
	kindInquiry        // an inquiry, a refund during it, the inquiry closed
	kindChargebackWon  // a chargeback, funds withdrawn, then reinstated: everything back
	kindChargebackLost // a partial chargeback, lost
	numKinds
)

func (k kind) String() string {
	return [...]string{"paid", "paid, second event", "unpaid, pays later", "unpaid, payment fails", "no user id",
		"subscription + first invoice", "subscription, session listed late", "trial, then paid", "renewal",
		"refunded in parts", "refund fails", "inquiry, refund during it", "chargeback won", "chargeback lost"}[k]
}

// shouldCredit reports whether the purchase must end up credited exactly once.
func (k kind) shouldCredit() bool {
	return k == kindPaid || k == kindPaidTwice || k == kindPaysLater || k >= kindSubscription
}

const (
	typeCompleted   = "checkout.session.completed"
	typeAsyncPaid   = "checkout.session.async_payment_succeeded"
	typeAsyncFailed = "checkout.session.async_payment_failed"
)

// purchase is one Checkout Session and the events Stripe sends about it.
type purchase struct {
	idx      int
	kind     kind
	session  string
	user     string // "" for kindNoUser
	customer string
	credits  int64
	at       time.Duration // first delivery, after the start of traffic
	events   []*simEvent
	// grantID is the id the backend must credit it under; "" means session. altID,
	// when set, is another id it may be credited under instead (never both).
	grantID, altID string
	// net is the credits the backend must hold for a reversal kind in the end: the
	// grant less what the money that left stands for.
	net int64
	// route is the route its events go to: main, or direct (which answers before the
	// settlement) for every other purchase whose events are all session events.
	route *simRoute
}

// simRoute is one of the replicas' routes as the simulator addresses it.
type simRoute struct {
	name, path string
	account    string // the Connect account its events name; "": a platform route
}

var (
	mainSimRoute   = &simRoute{name: routeName, path: mainPath}
	directSimRoute = &simRoute{name: directRoute, path: directPath, account: directAccount}
)

// sessionOnly reports whether every event of the purchase is a Checkout Session event.
func (k kind) sessionOnly() bool { return k <= kindNoUser }

// creditedUser is the user_id the backend must be credited for: on a Connect route,
// the account's user.
func (p *purchase) creditedUser() string {
	if p.route.account != "" {
		return p.route.account + ":" + p.user
	}
	return p.user
}

// reverses reports whether the purchase's money moves after the grant.
func (k kind) reverses() bool { return k >= kindRefunds }

// creditID is the id (and Idempotency-Key) the purchase must be credited under.
func (p *purchase) creditID() string {
	if p.grantID != "" {
		return p.grantID
	}
	return p.session
}

// simEvent is one Stripe event and how Stripe delivers it.
type simEvent struct {
	p     *purchase
	id    string
	typ   string
	body  []byte
	ok    []string      // the 2xx statuses this event may be answered with
	after *simEvent     // delivered only after this one was acknowledged (nil: at p.at)
	delay time.Duration // extra wait before the first delivery

	twice      bool // Stripe delivers it again after it was acknowledged
	concurrent bool // Stripe delivers it to both replicas at the same moment

	acked   atomic.Bool   // a 2xx arrived
	ackedCh chan struct{} // closed when acked
	invoice string        // the invoice of an invoice.paid event

	mu      sync.Mutex
	answers []string // 2xx statuses received
	history []string // the last attempts: time after the start of traffic, replica, answer
}

// plan draws n purchases from seed: their kind, ids, amounts, delivery modes and
// start offsets spread evenly over traffic.
func plan(n int, seed uint64, traffic time.Duration, api *stripeAPI) []*purchase {
	rng := rand.New(rand.NewPCG(seed, 0x57121be))
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	uuid4 := func() string {
		h := hex(32)
		return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + string("89ab"[rng.IntN(4)]) + h[17:20] + "-" + h[20:]
	}
	ps := make([]*purchase, n)
	for i := range ps {
		p := &purchase{
			idx:      i,
			session:  "cs_test_soak" + hex(24),
			customer: "cus_soak" + hex(14),
			user:     uuid4(),
			credits:  1 + rng.Int64N(1000),
			at:       traffic * time.Duration(i) / time.Duration(max(n, 1)),
		}
		switch x := rng.Float64(); {
		case x >= 0.45 && x < 0.60:
			p.kind = reversalKinds[rng.IntN(len(reversalKinds))]
		case x >= 0.25 && x < 0.45:
			p.kind = subscriptionKinds[rng.IntN(len(subscriptionKinds))]
		case x < 0.01:
			p.kind, p.user = kindNoUser, ""
		case x < 0.03:
			p.kind = kindPaymentFail
		case x < 0.13:
			p.kind = kindPaysLater
		case x < 0.25:
			p.kind = kindPaidTwice
		default:
			p.kind = kindPaid
		}
		// Every other one of them on the route without reversals (no draw from rng:
		// the rest of the plan stays what it was).
		p.route = mainSimRoute
		if p.kind.sessionOnly() && i%2 == 1 {
			p.route = directSimRoute
		}
		ev := func(typ, status string, ok ...string) *simEvent {
			e := &simEvent{p: p, id: "evt_soak" + hex(24), typ: typ, ok: ok, ackedCh: make(chan struct{})}
			e.body = demo.Session{
				EventID: e.id, Type: typ, SessionID: p.session, UserID: p.user,
				Credits: fmt.Sprint(p.credits), Customer: p.customer, PaymentStatus: status,
				Account: p.route.account,
			}.Event()
			// Stripe's own quirks: a redelivery after an acknowledged one, and the same
			// event on two replicas at the same moment.
			e.twice = rng.Float64() < 0.08
			e.concurrent = rng.Float64() < 0.08
			return e
		}
		switch p.kind {
		case kindPaid:
			p.events = []*simEvent{ev(typeCompleted, "paid", "forwarded", "duplicate")}
		case kindRefunds, kindRefundFails, kindInquiry, kindChargebackWon, kindChargebackLost:
			p.events = []*simEvent{ev(typeCompleted, "paid", "forwarded", "duplicate")}
			planReversals(p, rng, hex)
		case kindNoUser:
			p.events = []*simEvent{ev(typeCompleted, "paid", "dead_lettered", "duplicate")}
		case kindPaidTwice:
			first := ev(typeCompleted, "paid", "forwarded", "duplicate")
			second := ev(typeAsyncPaid, "paid", "forwarded", "duplicate")
			if rng.IntN(2) == 0 { // half of them race the first event
				second.after = first
			}
			p.events = []*simEvent{first, second}
		case kindSubscription, kindSubLate, kindTrial, kindRenewal:
			planSubscription(p, rng, hex, ev, api)
		case kindPaysLater, kindPaymentFail:
			first := ev(typeCompleted, "unpaid", "pending_payment", "duplicate")
			var second *simEvent
			if p.kind == kindPaysLater {
				second = ev(typeAsyncPaid, "paid", "forwarded", "duplicate")
			} else {
				second = ev(typeAsyncFailed, "unpaid", "ignored")
			}
			second.after = first
			second.delay = time.Duration(rng.Int64N(int64(2 * time.Second)))
			p.events = []*simEvent{first, second}
		}
		ps[i] = p
	}
	return ps
}

// sim is the Stripe simulator: it delivers every event of every purchase like Stripe
// does — signed afresh for each attempt, retried with (compressed) exponential backoff
// on any non-2xx, transport error or timeout until a 2xx or the deadline, each attempt
// to a random replica — with at most `slots` requests in flight, and at most 3/4 of
// them on one replica.
type sim struct {
	secret   string
	replicas []string // base URLs of the replicas' webhook listeners
	deadline time.Time
	slots    chan struct{}   // in flight in all
	rslots   []chan struct{} // in flight per replica: a hung replica cannot take every slot
	hc       *http.Client
	start    time.Time

	rmu sync.Mutex
	rng *rand.Rand

	mu        sync.Mutex
	latencies []time.Duration
	byAnswer  map[string]int
	wrong     []string // unexpected answers, first few
	nWrong    int
	inflight  []atomic.Int64 // per replica
	attempts  int
	seconds   map[int]*second // per second after the start of traffic
}

// second counts the attempts made in one second of the run, by outcome.
type second struct{ attempts, ok, inFlight, unavailable, noAnswer, other, backend int }

// stripeTimeout is how long the simulator waits for an answer, like Stripe's own.
const stripeTimeout = 10 * time.Second

// Retry schedule: Stripe's days compressed to seconds.
const (
	retryBase = 100 * time.Millisecond
	retryMax  = 3 * time.Second
)

func newSim(secret string, replicas []string, slots int, deadline time.Time, seed uint64) *sim {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConns:        4 * slots,
		MaxIdleConnsPerHost: 2 * slots,
		IdleConnTimeout:     30 * time.Second,
	}
	rslots := make([]chan struct{}, len(replicas))
	for i := range rslots {
		rslots[i] = make(chan struct{}, max(1, slots*3/4))
	}
	return &sim{
		secret: secret, replicas: replicas, deadline: deadline,
		slots:    make(chan struct{}, slots),
		rslots:   rslots,
		hc:       &http.Client{Transport: t, Timeout: stripeTimeout},
		rng:      rand.New(rand.NewPCG(seed, 0x5ee0)),
		byAnswer: map[string]int{},
		seconds:  map[int]*second{},
		inflight: make([]atomic.Int64, len(replicas)),
	}
}

// run delivers every purchase, first deliveries at s.start plus their offsets, and
// returns when all are acknowledged or the deadline has passed.
func (s *sim) run(ctx context.Context, ps []*purchase) {
	ctx, cancel := context.WithDeadline(ctx, s.deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range ps {
		for _, e := range p.events {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.event(ctx, e)
			}()
		}
	}
	wg.Wait()
}

// event delivers one event: it waits for its turn, then runs one Stripe retry loop
// (two at once, to both replicas, when concurrent), and a redelivery after the
// acknowledgement when twice.
func (s *sim) event(ctx context.Context, e *simEvent) {
	if !sleepUntil(ctx, s.start.Add(e.p.at)) {
		return
	}
	if e.after != nil {
		select {
		case <-e.after.ackedCh:
		case <-ctx.Done():
			return
		}
	}
	if !sleepFor(ctx, e.delay) {
		return
	}
	var wg sync.WaitGroup
	streams := 1
	if e.concurrent {
		streams = len(s.replicas)
	}
	acked := make(chan bool, streams)
	for i := range streams {
		target := -1
		if e.concurrent {
			target = i
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			acked <- s.retryLoop(ctx, e, target)
		}()
	}
	// The event counts as acknowledged at the first 2xx, as Stripe would see it.
	first := false
	for range streams {
		if <-acked && !first {
			first = true
			e.acked.Store(true)
			close(e.ackedCh)
		}
	}
	wg.Wait()
	if !first {
		return
	}
	if e.twice {
		if sleepFor(ctx, s.jitter(500*time.Millisecond)) {
			s.retryLoop(ctx, e, -1)
		}
	}
}

// retryLoop posts e until a 2xx or the deadline; target -1 picks a replica at random
// for every attempt.
func (s *sim) retryLoop(ctx context.Context, e *simEvent, target int) bool {
	for n := 1; ; n++ {
		// The replica's slot first, then the global one: a delivery waiting for a hung
		// replica must not sit on a global slot, or one frozen replica stalls all traffic.
		r := s.pick(ctx, target)
		if r < 0 {
			return false
		}
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			<-s.rslots[r]
			return false
		}
		code, status := s.post(ctx, r, e)
		<-s.rslots[r]
		<-s.slots
		if code >= 200 && code < 300 {
			e.mu.Lock()
			e.answers = append(e.answers, status)
			e.mu.Unlock()
			return true
		}
		wait := min(retryMax, retryBase<<min(n-1, 10))
		if !sleepFor(ctx, s.jitter(wait)) {
			return false
		}
	}
}

// pick takes a per-replica slot: target's, or (target -1) a random replica's among
// those with a free slot, like a load balancer with a connection cap per backend. It
// returns -1 when ctx ends first.
func (s *sim) pick(ctx context.Context, target int) int {
	if target >= 0 {
		select {
		case s.rslots[target] <- struct{}{}:
			return target
		case <-ctx.Done():
			return -1
		}
	}
	// select chooses at random among the ready cases.
	cases := make([]reflect.SelectCase, 0, len(s.rslots)+1)
	for _, c := range s.rslots {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(c), Send: reflect.ValueOf(struct{}{})})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	i, _, _ := reflect.Select(cases)
	if i == len(s.rslots) {
		return -1
	}
	return i
}

// post makes one delivery attempt and returns the HTTP status (0 when no answer came)
// and the answer's status word.
func (s *sim) post(ctx context.Context, r int, e *simEvent) (int, string) {
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: e.body, Secret: s.secret, Timestamp: time.Now()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.replicas[r]+e.p.route.path, bytes.NewReader(e.body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", sp.Header)
	s.inflight[r].Add(1)
	t0 := time.Now()
	label := "?"
	defer func() {
		e.mu.Lock()
		if len(e.history) == 8 {
			e.history = e.history[1:]
		}
		e.history = append(e.history, fmt.Sprintf("%.1fs %c %s", t0.Sub(s.start).Seconds(), 'A'+r, label))
		e.mu.Unlock()
	}()
	resp, err := s.hc.Do(req)
	s.inflight[r].Add(-1)
	if err != nil {
		if ctx.Err() != nil { // the soak's deadline, not an answer
			return 0, ""
		}
		label = classifyErr(err)
		s.record(0, time.Since(t0), label)
		return 0, ""
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	lat := time.Since(t0)
	if rerr != nil {
		label = classifyErr(rerr)
		s.record(0, lat, label)
		return 0, ""
	}
	var a struct {
		Status  string `json:"status"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		label = fmt.Sprintf("%d (not a JSON answer)", resp.StatusCode)
		s.record(resp.StatusCode, lat, label)
		s.wrongAnswer(e, fmt.Sprintf("%d %q is not a JSON answer", resp.StatusCode, clipS(string(raw))))
		return resp.StatusCode, ""
	}
	label = fmt.Sprintf("%d %s", resp.StatusCode, a.Status)
	s.record(resp.StatusCode, lat, label)
	s.check(e, resp.StatusCode, a.Status, a.EventID)
	return resp.StatusCode, a.Status
}

// check compares an answer with what the event calls for.
func (s *sim) check(e *simEvent, code int, status, eventID string) {
	switch {
	case eventID != e.id:
		s.wrongAnswer(e, fmt.Sprintf("%d %s names event %q", code, status, eventID))
	case code >= 200 && code < 300:
		if !slices.Contains(e.ok, status) {
			s.wrongAnswer(e, fmt.Sprintf("%d %s (expected one of %s)", code, status, strings.Join(e.ok, ", ")))
		}
	case code == http.StatusConflict && status == "in_flight",
		code == http.StatusServiceUnavailable && (status == "backend_unavailable" || status == "store_unavailable" || status == "cancelled"):
	default:
		s.wrongAnswer(e, fmt.Sprintf("%d %s", code, status))
	}
}

func (s *sim) wrongAnswer(e *simEvent, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nWrong++
	if len(s.wrong) < 10 {
		s.wrong = append(s.wrong, fmt.Sprintf("%s (%s, %s, %s): %s", e.id, e.typ, e.p.session, e.p.kind, what))
	}
}

func (s *sim) record(code int, lat time.Duration, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	s.byAnswer[label]++
	if code != 0 {
		s.latencies = append(s.latencies, lat)
	}
	sec := s.second(time.Now().Add(-lat))
	sec.attempts++
	switch {
	case code >= 200 && code < 300:
		sec.ok++
	case code == http.StatusConflict:
		sec.inFlight++
	case code == http.StatusServiceUnavailable:
		sec.unavailable++
	case code == 0:
		sec.noAnswer++
	default:
		sec.other++
	}
}

// second returns the counters of the second t falls in; s.mu must be held.
func (s *sim) second(t time.Time) *second {
	i := int(t.Sub(s.start) / time.Second)
	c := s.seconds[i]
	if c == nil {
		c = &second{}
		s.seconds[i] = c
	}
	return c
}

// backendRequest counts a request the backend received, for the timeline.
func (s *sim) backendRequest(t time.Time) {
	s.mu.Lock()
	s.second(t).backend++
	s.mu.Unlock()
}

// classifyErr names a transport failure.
func classifyErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "no answer: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "no answer: connection reset / closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "no answer: timeout (10s)"
	}
	return "no answer: " + err.Error()
}

// jitter returns a duration in [d/2, d].
func (s *sim) jitter(d time.Duration) time.Duration {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return d/2 + time.Duration(s.rng.Int64N(int64(d/2)+1))
}

func sleepUntil(ctx context.Context, t time.Time) bool { return sleepFor(ctx, time.Until(t)) }

func sleepFor(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func clipS(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
