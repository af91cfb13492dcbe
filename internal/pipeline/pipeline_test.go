package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

func TestResultStatus(t *testing.T) {
	// docs/design.md §2, one row per Result.
	want := map[outcome.Result]int{
		outcome.Forwarded:          200,
		outcome.Duplicate:          200,
		outcome.Ignored:            200,
		outcome.PendingPayment:     200,
		outcome.DeadLettered:       200,
		outcome.InFlight:           409,
		outcome.BackendUnavailable: 503,
		outcome.StoreUnavailable:   503,
		outcome.InvalidSignature:   400,
		outcome.LivemodeMismatch:   400,
		outcome.MalformedEvent:     400,
		outcome.TooLarge:           413,
		outcome.NotFound:           404,
		outcome.MethodNotAllowed:   405,
		outcome.Overloaded:         503, // docs/security.md: in-flight body budget
		outcome.Cancelled:          503, // the caller hung up: not an outage
	}
	words := map[outcome.Result]string{
		outcome.Forwarded: "forwarded", outcome.Duplicate: "duplicate", outcome.Ignored: "ignored",
		outcome.PendingPayment: "pending_payment", outcome.DeadLettered: "dead_lettered",
		outcome.InFlight: "in_flight", outcome.BackendUnavailable: "backend_unavailable",
		outcome.StoreUnavailable: "store_unavailable", outcome.InvalidSignature: "invalid_signature",
		outcome.LivemodeMismatch: "livemode_mismatch", outcome.MalformedEvent: "malformed_event",
		outcome.TooLarge: "too_large", outcome.NotFound: "not_found", outcome.MethodNotAllowed: "method_not_allowed",
		outcome.Overloaded: "overloaded", outcome.Cancelled: "cancelled",
	}
	seen := map[outcome.Result]bool{}
	for _, r := range outcome.AllResults {
		if seen[r] {
			t.Errorf("outcome.AllResults lists %q twice", r)
		}
		seen[r] = true
		w, ok := want[r]
		if !ok {
			t.Errorf("outcome.AllResults has %q, which docs/design.md §2 does not list", r)
			continue
		}
		if got := r.Status(); got != w {
			t.Errorf("%s.Status() = %d, want %d", r, got, w)
		}
		if string(r) != words[r] {
			t.Errorf("status word %q, want %q", r, words[r])
		}
	}
	for r := range want {
		if !seen[r] {
			t.Errorf("outcome.AllResults lacks %q", r)
		}
	}
	if got := outcome.Result("bogus").Status(); got != http.StatusInternalServerError {
		t.Errorf("unknown Result.Status() = %d, want 500", got)
	}
}

// TestProcessOutcomes covers every Result Process produces, with its Reason, the keys
// it leaves behind, the dead-letter list and what the backend got.
func TestProcessOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		file     string                            // default paidFile
		change   func(d *pipeline.Delivery)        // variant of the fixture
		setup    func(e *env, d pipeline.Delivery) // state before
		route    func(rt *pipeline.Route)          // route variant
		script   []error                           // backend answers
		want     outcome.Result
		reason   outcome.Reason
		detail   string // substring of Detail
		event    string // key states after
		purchase string
		credits  int64 // Outcome.Credits
		attempts int   // Outcome.Attempts; 1 when the backend answered at once
		sends    int
		granted  int // credits the backend granted
	}{{
		name: "paid session is forwarded",
		want: outcome.Forwarded, detail: "backend answered 200 after 1 attempt(s)",
		event: done, purchase: done, credits: 100, sends: 1, granted: 1,
	}, {
		name:  "backend 409: already credited counts as forwarded",
		setup: func(e *env, _ pipeline.Delivery) { e.be.credited[paidSession] = 100 },
		want:  outcome.Forwarded, reason: "already_credited", detail: "backend answered 409",
		event: done, purchase: done, credits: 100, sends: 1,
	}, {
		name:  "async_payment_succeeded is forwarded",
		file:  asyncFile,
		want:  outcome.Forwarded,
		event: done, purchase: done, credits: 200, sends: 1, granted: 1,
	}, {
		name:  "no_payment_required is forwarded when the route grants free sessions",
		file:  freeFile,
		route: func(rt *pipeline.Route) { rt.GrantNoPaymentRequired = true },
		want:  outcome.Forwarded,
		event: done, purchase: done, credits: 100, sends: 1, granted: 1,
	}, {
		name:  "event already done is a duplicate",
		setup: func(e *env, d pipeline.Delivery) { e.complete(eventKey(d.Event.ID)) },
		want:  outcome.Duplicate, reason: "event",
		event: done, purchase: free,
	}, {
		name:  "purchase already done is a duplicate and settles the event",
		setup: func(e *env, d pipeline.Delivery) { e.complete(purchaseKey(d.Event.Object.ID)) },
		want:  outcome.Duplicate, reason: "purchase", detail: "already credited",
		event: done, purchase: done,
	}, {
		name:   "event type the route does not handle is ignored untouched",
		change: func(d *pipeline.Delivery) { d.Event.Type = "payment_intent.succeeded" },
		want:   outcome.Ignored, reason: "event_type",
		event: free, purchase: free,
	}, {
		name: "no_payment_required is ignored by default, settling the event only",
		file: freeFile,
		want: outcome.Ignored, reason: "no_payment_required",
		event: done, purchase: free,
	}, {
		name: "unpaid session waits, settling the event only",
		file: unpaidFile,
		want: outcome.PendingPayment, reason: "unpaid",
		event: done, purchase: free,
	}, {
		name:   "unknown payment_status is dead-lettered",
		change: func(d *pipeline.Delivery) { d.Event.Object.PaymentStatus = "refunded" },
		want:   outcome.DeadLettered, reason: "unknown_payment_status", detail: `payment_status "refunded"`,
		event: done, purchase: free,
	}, {
		name:   "session without id is dead-lettered",
		change: func(d *pipeline.Delivery) { d.Event.Object.ID = "" },
		want:   outcome.DeadLettered, reason: "no_session_id",
		event: done, purchase: free,
	}, {
		name:   "no user id is dead-lettered",
		change: func(d *pipeline.Delivery) { *d = withoutUser(*d) },
		want:   outcome.DeadLettered, reason: "no_user_id",
		event: done, purchase: free,
	}, {
		name:   "bad user id is dead-lettered",
		change: func(d *pipeline.Delivery) { d.Event.Object.Metadata["user_id"] = "user 1" },
		want:   outcome.DeadLettered, reason: "bad_user_id",
		event: done, purchase: free,
	}, {
		name:   "no credits is dead-lettered",
		change: func(d *pipeline.Delivery) { delete(d.Event.Object.Metadata, "credits") },
		want:   outcome.DeadLettered, reason: "no_credits",
		event: done, purchase: free,
	}, {
		name:   "bad credits is dead-lettered",
		change: func(d *pipeline.Delivery) { d.Event.Object.Metadata["credits"] = "1e9" },
		want:   outcome.DeadLettered, reason: "bad_credits",
		event: done, purchase: free,
	}, {
		name:   "credits above max_credits is dead-lettered",
		change: func(d *pipeline.Delivery) { d.Event.Object.Metadata["credits"] = "1000001" },
		want:   outcome.DeadLettered, reason: "bad_credits",
		event: done, purchase: free,
	}, {
		name:   "backend 4xx is dead-lettered, purchase released for a replay",
		script: []error{errBackendNo},
		want:   outcome.DeadLettered, reason: "backend_rejected", detail: "422",
		event: done, purchase: free, credits: 100, sends: 1,
	}, {
		name:   "backend unavailable releases both claims",
		script: []error{errBackendDown},
		want:   outcome.BackendUnavailable, reason: "backend",
		event: free, purchase: free, credits: 100, attempts: 3, sends: 1,
	}, {
		name:  "event in flight elsewhere",
		setup: func(e *env, d pipeline.Delivery) { e.claimElsewhere(eventKey(d.Event.ID)) },
		want:  outcome.InFlight, reason: "event",
		event: held, purchase: free,
	}, {
		name:  "purchase in flight elsewhere releases the event",
		setup: func(e *env, d pipeline.Delivery) { e.claimElsewhere(purchaseKey(d.Event.Object.ID)) },
		want:  outcome.InFlight, reason: "purchase",
		event: free, purchase: held,
	}, {
		name:   "livemode mismatch touches nothing",
		change: func(d *pipeline.Delivery) { d.Event.Livemode = true },
		want:   outcome.LivemodeMismatch, reason: "livemode", detail: "livemode=true",
		event: free, purchase: free,
	}, {
		name: "live event on a test route",
		file: "checkout_session_completed_paid_livemode.json",
		want: outcome.LivemodeMismatch, reason: "livemode",
		event: free, purchase: free,
	}, {
		name:  "live event on a live route",
		file:  "checkout_session_completed_paid_livemode.json",
		route: func(rt *pipeline.Route) { rt.Livemode = true },
		want:  outcome.Forwarded,
		event: done, purchase: done, credits: 100, sends: 1, granted: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, newBackend(tt.script...))
			file := tt.file
			if file == "" {
				file = paidFile
			}
			d := delivery(t, file)
			if tt.change != nil {
				tt.change(&d)
			}
			if tt.route != nil {
				tt.route(e.rt)
			}
			if tt.setup != nil {
				tt.setup(e, d)
			}

			o := e.process(d)

			if o.Result != tt.want || o.Reason != tt.reason {
				t.Fatalf("Process = %s/%q (%s), want %s/%q", o.Result, o.Reason, o.Detail, tt.want, tt.reason)
			}
			if !strings.Contains(o.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", o.Detail, tt.detail)
			}
			if o.EventID != d.Event.ID || o.EventType != d.Event.Type || o.SessionID != d.Event.Object.ID {
				t.Errorf("Outcome ids = %q %q %q, want %q %q %q", o.EventID, o.EventType, o.SessionID, d.Event.ID, d.Event.Type, d.Event.Object.ID)
			}
			if o.Credits != tt.credits {
				t.Errorf("Credits = %d, want %d", o.Credits, tt.credits)
			}
			wantAttempts := tt.attempts
			if wantAttempts == 0 && tt.sends == 1 {
				wantAttempts = 1
			}
			if o.Attempts != wantAttempts {
				t.Errorf("Attempts = %d, want %d", o.Attempts, wantAttempts)
			}
			e.wantKeys(d.Event.ID, d.Event.Object.ID, tt.event, tt.purchase)
			if n := len(e.be.sent()); n != tt.sends {
				t.Errorf("backend got %d requests, want %d", n, tt.sends)
			}
			if n := e.be.granted(); n != tt.granted {
				t.Errorf("backend granted %d times, want %d", n, tt.granted)
			}
			if tt.want == outcome.DeadLettered {
				if !slices.Contains(metrics.DeadLetterReasons, string(o.Reason)) {
					t.Errorf("reason %q is not in metrics.DeadLetterReasons, so its series starts missing", o.Reason)
				}
				e.wantEntry(d, o, tt.reason, 0)
			} else if es := e.entries(); len(es) != 0 {
				t.Errorf("dead-letter list has %d entries, want none", len(es))
			}
			// A non-2xx makes Stripe deliver again; the event must then not be done.
			if !is2xx(o.Result) && tt.event == done {
				t.Errorf("%s answered %d but left the event done: the retry would be lost", o.Result, o.Result.Status())
			}
		})
	}
}

func TestProcessForwardedRequest(t *testing.T) {
	tests := []struct {
		file string
		want forward.Request
	}{{
		file: paidFile,
		want: forward.Request{
			ID: paidSession, Type: forward.TypeGranted, UserID: user1, Credits: 100,
			OccurredAt: time.Unix(paidCreated, 0).UTC(),
			Stripe: forward.StripeRef{
				EventID: paidEvent, EventType: outcome.EventSessionCompleted, SessionID: paidSession,
				CustomerID: paidCust, PaymentIntentID: paidPI, AmountTotal: 999, Currency: "eur",
			},
		},
	}, {
		file: connectFile,
		want: forward.Request{
			ID:   "cs_test_a1paLf1QMRM6nzjnxvGcG7iTcfTdKpEsBmEnAf5aAfaaQ77Oe2s57G42",
			Type: forward.TypeGranted, UserID: user1, Credits: 150,
			OccurredAt: time.Unix(1728380000, 0).UTC(),
			Stripe: forward.StripeRef{
				EventID: "evt_1SCU8LuAKRfErrH0avuDngH4", EventType: outcome.EventSessionCompleted,
				SessionID:       "cs_test_a1paLf1QMRM6nzjnxvGcG7iTcfTdKpEsBmEnAf5aAfaaQ77Oe2s57G42",
				PaymentIntentID: "pi_3MJyjfubBhKVwocJyo7uNi1N", AmountTotal: 1499, Currency: "eur",
				Account: connectAccount,
			},
		},
	}, {
		file: asyncFile,
		want: forward.Request{
			ID: unpaidSession, Type: forward.TypeGranted, UserID: user2, Credits: 200,
			OccurredAt: time.Unix(1725694200, 0).UTC(),
			Stripe: forward.StripeRef{
				EventID: asyncEvent, EventType: outcome.EventAsyncPaymentSucceeded, SessionID: unpaidSession,
				CustomerID: "cus_YQSURm9JdFqCXx", PaymentIntentID: "pi_3KDDo2n5yrl6s7V1f0CFn26P",
				AmountTotal: 1999, Currency: "eur",
			},
		},
	}, {
		file: "checkout_session_completed_paid_livemode.json",
		want: forward.Request{
			ID:   "cs_live_a1xd6eSpVKUF4keNgEKKBMRCnhkxqAd4b7bi7NPJAxyS1xs8N8v5lSPg",
			Type: forward.TypeGranted, UserID: user1, Credits: 100, Livemode: true,
			OccurredAt: time.Unix(1727776800, 0).UTC(),
			Stripe: forward.StripeRef{
				EventID: "evt_13DHG2Z7ymeDh10BjpQnGEBf", EventType: outcome.EventSessionCompleted,
				SessionID:  "cs_live_a1xd6eSpVKUF4keNgEKKBMRCnhkxqAd4b7bi7NPJAxyS1xs8N8v5lSPg",
				CustomerID: "cus_3WI7jphdD8Lu3N", PaymentIntentID: "pi_3Z8VLzYe7MJxzXcA6EP7iXbw",
				AmountTotal: 999, Currency: "eur",
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e := newEnv(t, nil)
			e.rt.Livemode = tt.want.Livemode
			if o := e.process(delivery(t, tt.file)); o.Result != outcome.Forwarded {
				t.Fatalf("Process = %s (%s), want forwarded", o.Result, o.Detail)
			}
			reqs := e.be.sent()
			if len(reqs) != 1 {
				t.Fatalf("backend got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.OccurredAt.Location() != time.UTC || !got.OccurredAt.Equal(tt.want.OccurredAt) {
				t.Errorf("OccurredAt = %v, want %v in UTC", got.OccurredAt, tt.want.OccurredAt)
			}
			got.OccurredAt, tt.want.OccurredAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request =\n%+v\nwant\n%+v", got, tt.want)
			}
			if err := reqs[0].Validate(); err != nil {
				t.Errorf("request does not validate: %v", err)
			}
		})
	}
}

// One purchase, several deliveries: the credit goes out once.
func TestProcessCreditsOncePerPurchase(t *testing.T) {
	e := newEnv(t, nil)
	d := delivery(t, paidFile)
	steps := []struct {
		name   string
		d      pipeline.Delivery
		want   outcome.Result
		reason outcome.Reason
	}{
		{"first delivery", d, outcome.Forwarded, ""},
		{"Stripe redelivers the event", d, outcome.Duplicate, "event"},
		{"another event for the same session", withEventID(d, "evt_other"), outcome.Duplicate, "purchase"},
		{"and its redelivery", withEventID(d, "evt_other"), outcome.Duplicate, "event"},
	}
	for _, s := range steps {
		if o := e.process(s.d); o.Result != s.want || o.Reason != s.reason {
			t.Fatalf("%s: %s/%q (%s), want %s/%q", s.name, o.Result, o.Reason, o.Detail, s.want, s.reason)
		}
	}
	if n := len(e.be.sent()); n != 1 {
		t.Errorf("backend got %d requests, want 1", n)
	}
	// After the ttl the markers are gone (Stripe stopped retrying long before).
	e.clk.Advance(ttl)
	e.wantKeys(paidEvent, paidSession, free, free)
}

func withEventID(d pipeline.Delivery, id string) pipeline.Delivery {
	d.Event.ID = id
	return d
}

// checkout.session.completed (unpaid) waits; async_payment_succeeded credits; a late
// redelivery of either is a duplicate.
func TestProcessAsyncPayment(t *testing.T) {
	e := newEnv(t, nil)
	unpaid, async := delivery(t, unpaidFile), delivery(t, asyncFile)
	for _, s := range []struct {
		d      pipeline.Delivery
		want   outcome.Result
		reason outcome.Reason
	}{
		{unpaid, outcome.PendingPayment, "unpaid"},
		{unpaid, outcome.Duplicate, "event"},
		{async, outcome.Forwarded, ""},
		{async, outcome.Duplicate, "event"},
	} {
		if o := e.process(s.d); o.Result != s.want || o.Reason != s.reason {
			t.Fatalf("%s: %s/%q (%s), want %s/%q", s.d.Event.ID, o.Result, o.Reason, o.Detail, s.want, s.reason)
		}
	}
	reqs := e.be.sent()
	if len(reqs) != 1 || reqs[0].ID != unpaidSession || reqs[0].UserID != user2 || reqs[0].Credits != 200 {
		t.Fatalf("backend got %+v, want one credit of 200 for %s", reqs, user2)
	}
	e.wantKeys(unpaidEvent, unpaidSession, done, done)
	e.wantKeys(asyncEvent, unpaidSession, done, done)
}

// The customer map is learned from an event that names both a customer and a user,
// used by a later event that names only the customer, and never redirected: a
// second user for the customer is parked customer_conflict.
func TestProcessCustomerMap(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	// Only the customer: nothing known yet.
	anon := delivery(t, paidFile)
	anon.Event.ID, anon.Event.Object.ID = "evt_anon_1", "cs_test_anon_1"
	delete(anon.Event.Object.Metadata, "user_id")
	if o := e.process(anon); o.Result != outcome.DeadLettered || o.Reason != "no_user_id" {
		t.Fatalf("before learning: %s/%q, want dead_lettered/no_user_id", o.Result, o.Reason)
	}

	// The session names its buyer even when the forward fails: the map learns.
	e.be.script = []error{errBackendDown}
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.BackendUnavailable {
		t.Fatalf("backend down: %s, want backend_unavailable", o.Result)
	}
	if u, ok, err := e.cus.Customer(ctx, route, paidCust); err != nil || !ok || u != user1 {
		t.Fatalf("customer map has %q, %v, %v; want %s", u, ok, err, user1)
	}
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
		t.Fatalf("first purchase: %s (%s)", o.Result, o.Detail)
	}
	if _, ok, _ := e.cus.Customer(ctx, "other-route", paidCust); ok {
		t.Error("the mapping leaked to another route")
	}

	// A later purchase by the same customer without a user id.
	later := anon
	later.Event.ID, later.Event.Object.ID = "evt_anon_2", "cs_test_anon_2"
	if o := e.process(later); o.Result != outcome.Forwarded {
		t.Fatalf("later purchase: %s/%q (%s), want forwarded", o.Result, o.Reason, o.Detail)
	}
	reqs := e.be.sent()
	last := reqs[len(reqs)-1]
	if last.ID != "cs_test_anon_2" || last.UserID != user1 || last.Stripe.CustomerID != paidCust {
		t.Errorf("later request = %+v, want %s credited to %s", last, "cs_test_anon_2", user1)
	}

	// Another user for the same customer is a conflict, not a redirect.
	other := delivery(t, paidFile)
	other.Event.ID, other.Event.Object.ID = "evt_other_user", "cs_test_other_user"
	other.Event.Object.Metadata["user_id"] = user3
	o := e.process(other)
	if o.Result != outcome.DeadLettered || o.Reason != "customer_conflict" || !strings.Contains(o.Detail, user1) || !strings.Contains(o.Detail, user3) {
		t.Fatalf("other user: %s %s (%s), want dead_lettered customer_conflict naming both users", o.Result, o.Reason, o.Detail)
	}
	if n := len(e.be.sent()); n != len(reqs) {
		t.Errorf("a conflicting purchase reached the backend")
	}
	if u, _, _ := e.cus.Customer(ctx, route, paidCust); u != user1 {
		t.Errorf("customer map has %q after a conflicting purchase by %s", u, user3)
	}
	e.wantKeys("evt_other_user", "cs_test_other_user", done, free)
}

func TestProcessReplay(t *testing.T) {
	t.Run("skips the event key", func(t *testing.T) {
		e := newEnv(t, nil)
		d := delivery(t, paidFile)
		// The event key is held elsewhere: a normal delivery would be in_flight.
		e.claimElsewhere(eventKey(paidEvent))
		d.Replay = true
		if o := e.process(d); o.Result != outcome.Forwarded {
			t.Fatalf("replay = %s/%q (%s), want forwarded", o.Result, o.Reason, o.Detail)
		}
		if n := e.store.count("Claim"); n != 1 {
			t.Errorf("replay made %d claims, want 1 (the purchase)", n)
		}
		e.wantKeys(paidEvent, paidSession, held, done)
	})
	t.Run("after the cause is fixed", func(t *testing.T) {
		e := newEnv(t, nil)
		bad := withoutUser(delivery(t, paidFile))
		o := e.process(bad)
		if o.Result != outcome.DeadLettered {
			t.Fatalf("first = %s, want dead_lettered", o.Result)
		}
		e.wantKeys(paidEvent, paidSession, done, free)
		// The operator fixes the user id and replays.
		fixed := bad
		fixed.Event.Object.Metadata = map[string]string{"credits": "100", "user_id": user1}
		fixed.Replay = true
		if o := e.process(fixed); o.Result != outcome.Forwarded {
			t.Fatalf("replay = %s/%q (%s), want forwarded", o.Result, o.Reason, o.Detail)
		}
		e.wantKeys(paidEvent, paidSession, done, done)
		if o := e.process(fixed); o.Result != outcome.Duplicate || o.Reason != "purchase" {
			t.Fatalf("second replay = %s/%q, want duplicate/purchase", o.Result, o.Reason)
		}
		if n := e.be.granted(); n != 1 {
			t.Errorf("backend granted %d times, want 1", n)
		}
	})
	t.Run("of a purchase already done is a duplicate", func(t *testing.T) {
		e := newEnv(t, nil)
		e.complete(purchaseKey(paidSession))
		d := delivery(t, paidFile)
		d.Replay = true
		if o := e.process(d); o.Result != outcome.Duplicate || o.Reason != "purchase" {
			t.Fatalf("replay = %s/%q, want duplicate/purchase", o.Result, o.Reason)
		}
		if n := len(e.be.sent()); n != 0 {
			t.Errorf("backend got %d requests, want 0", n)
		}
		// Replay does not touch the event key.
		e.wantKeys(paidEvent, paidSession, free, done)
	})
	t.Run("that fails again counts replays", func(t *testing.T) {
		e := newEnv(t, nil)
		d := withoutUser(delivery(t, paidFile))
		o := e.process(d)
		e.wantEntry(d, o, "no_user_id", 0)
		d.Replay, d.Replays = true, 2
		e.clk.Advance(time.Hour)
		o = e.process(d)
		if o.Result != outcome.DeadLettered || o.Reason != "no_user_id" {
			t.Fatalf("replay = %s/%q, want dead_lettered/no_user_id", o.Result, o.Reason)
		}
		e.wantEntry(d, o, "no_user_id", 3)
	})
	t.Run("while the purchase is in flight", func(t *testing.T) {
		e := newEnv(t, nil)
		e.claimElsewhere(purchaseKey(paidSession))
		d := delivery(t, paidFile)
		d.Replay = true
		if o := e.process(d); o.Result != outcome.InFlight || o.Reason != "purchase" {
			t.Fatalf("replay = %s/%q, want in_flight/purchase", o.Result, o.Reason)
		}
	})
}

// blocking is a Forwarder that waits for the caller's context to end, as a backend
// that never answers would.
type blocking struct{ started chan struct{} }

func (b blocking) Send(ctx context.Context, _ forward.Request) (forward.Result, error) {
	close(b.started)
	<-ctx.Done()
	return forward.Result{Attempts: 1}, errors.Join(forward.ErrUnavailable, context.Cause(ctx))
}

func TestProcessCancelledDuringForward(t *testing.T) {
	e := newEnv(t, nil)
	b := blocking{started: make(chan struct{})}
	e.rt.Forwarder = b
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := delivery(t, paidFile)
	out := make(chan pipeline.Outcome)
	go func() { out <- e.p.Process(ctx, e.rt, d) }()
	<-b.started
	e.wantKeys(paidEvent, paidSession, held, held)
	cancel()
	o := <-out
	// Still a non-2xx (Stripe retries), but labelled as the caller's cancellation, not
	// as a backend outage.
	if o.Result != outcome.Cancelled || o.Reason != outcome.ReasonCancelled {
		t.Fatalf("Process = %s/%q (%s), want cancelled/cancelled", o.Result, o.Reason, o.Detail)
	}
	if !errors.Is(o.Err, context.Canceled) {
		t.Errorf("Err = %v, want it to wrap context.Canceled", o.Err)
	}
	// Released with a context that outlives the request's.
	e.wantKeys(paidEvent, paidSession, free, free)

	e.rt.Forwarder = e.be
	if o := e.process(d); o.Result != outcome.Forwarded {
		t.Fatalf("retry = %s (%s), want forwarded", o.Result, o.Detail)
	}
}

func TestProcessCancelledBeforeClaim(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := e.p.Process(ctx, e.rt, delivery(t, paidFile))
	if o.Result != outcome.Cancelled || o.Reason != outcome.ReasonCancelled {
		t.Fatalf("Process = %s/%q, want cancelled/cancelled", o.Result, o.Reason)
	}
	e.wantKeys(paidEvent, paidSession, free, free)
	if n := len(e.be.sent()); n != 0 {
		t.Errorf("backend got %d requests", n)
	}
}

// panicking is a Forwarder with a bug.
type panicking struct{}

func (panicking) Send(context.Context, forward.Request) (forward.Result, error) {
	panic("forwarder bug")
}

func TestProcessPanicReleasesClaims(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.Forwarder = panicking{}
	func() {
		defer func() {
			if r := recover(); r != "forwarder bug" {
				t.Fatalf("recovered %v", r)
			}
		}()
		e.process(delivery(t, paidFile))
	}()
	e.wantKeys(paidEvent, paidSession, free, free)
}

func TestProcessStoreClosed(t *testing.T) {
	e := newEnv(t, nil)
	_ = e.mem.Close()
	o := e.process(delivery(t, paidFile))
	if o.Result != outcome.StoreUnavailable || o.Reason != "store" || !errors.Is(o.Err, dedup.ErrUnavailable) {
		t.Fatalf("Process = %s/%q/%v, want store_unavailable/store wrapping dedup.ErrUnavailable", o.Result, o.Reason, o.Err)
	}
}
