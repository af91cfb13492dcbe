package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// listPage is one page of a Stripe list (object "list") at url holding items.
func listPage(t *testing.T, url string, hasMore bool, items ...[]byte) stripemock.Reply {
	t.Helper()
	raws := make([]json.RawMessage, len(items))
	for i, e := range items {
		raws[i] = e
	}
	body, err := json.Marshal(map[string]any{"object": "list", "url": url, "has_more": hasMore, "data": raws})
	must(t, err)
	return stripemock.Reply{Status: 200, Body: body}
}

// connectEvent is a paid Connect session of user1 with 100 credits in its metadata,
// as the Events API lists it for the account (no "account" field: the listing is
// the account's own).
func connectEvent(t *testing.T) (raw []byte, evt, cs string) {
	evt, cs = newIDs()
	raw = mutate(t, withIDs(t, "checkout_session_completed_connect.json", evt, cs), func(o, ev map[string]any) {
		delete(ev, "account")
		o["metadata"] = map[string]any{"user_id": user1, "credits": "100"}
	})
	return raw, evt, cs
}

// TestReconcileConnectAccounts: on a Connect route reconcile pages each account's
// events with Stripe-Account, the allow-list's or, without one, every account the
// platform's API lists; each event is credited to its own account.
func TestReconcileConnectAccounts(t *testing.T) {
	requireRedis(t)
	const acctA, acctB = "acct_1ReconcileAAAA", "acct_1ReconcileBBBB"
	for _, tt := range []struct{ name, allow string }{
		{"allow-list", "\n    connect_accounts: [" + acctA + ", " + acctB + "]"},
		{"accounts from the API", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
			p := startAPIProxy(t, b, apiRoute+`
    connect: true
    connect_trust_accounts: true`+tt.allow+"\n", api.URL, "sk_test_recorded")
			rawA, _, csA := connectEvent(t)
			rawB1, evtB1, csB1 := connectEvent(t)
			rawB2, _, csB2 := connectEvent(t)
			accountA, _ := json.Marshal(map[string]any{"id": acctA, "object": "account"})
			accountB, _ := json.Marshal(map[string]any{"id": acctB, "object": "account"})
			api.Set(map[string]stripemock.Reply{
				"GET /v1/events @" + acctA:                              listPage(t, "/v1/events", false, rawA),
				"GET /v1/events @" + acctB:                              listPage(t, "/v1/events", true, rawB1),
				"GET /v1/events?starting_after=" + evtB1 + " @" + acctB: listPage(t, "/v1/events", false, rawB2),
				"GET /v1/accounts":                                      listPage(t, "/v1/accounts", false, accountA, accountB),
			})
			out, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "72h")
			if err != nil || !strings.Contains(out, "3 events in 2 account(s) since") || !strings.Contains(out, "3 credited now") {
				t.Fatalf("reconcile: %v\n%s", err, out)
			}
			credited := b.credited()
			for cs, acct := range map[string]string{csA: acctA, csB1: acctB, csB2: acctB} {
				if got := credited[cs]; got.Stripe.Account != acct || got.UserID != acct+":"+user1 || got.Credits != 100 {
					t.Errorf("credit of %s = %+v, want 100 for %s:%s", cs, got, acct, user1)
				}
			}
			for _, r := range api.Requests() {
				if r.URL.Path == "/v1/events" && r.Header.Get("Stripe-Account") == "" {
					t.Errorf("events listed without Stripe-Account: %s", r.URL.RawQuery)
				}
			}
		})
	}
}

// TestReconcileUndeliveredAndAlreadyCredited: --undelivered lists only what Stripe
// failed to deliver (delivery_success=false), and a purchase the backend had already
// (409) counts as already done, not as credited now.
func TestReconcileUndeliveredAndAlreadyCredited(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, b, apiRoute, api.URL, "sk_test_recorded")
	missed, _, _ := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	known, _, _ := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api.Set(map[string]stripemock.Reply{"GET /v1/events": listPage(t, "/v1/events", false, known, missed)})
	b.set(func(b *backend) {
		b.answer = func(n int) int {
			if n == 1 { // the older event, listed last, goes first
				return 200
			}
			return 409
		}
	})
	out, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "24h", "--undelivered")
	if err != nil || !strings.Contains(out, "2 undelivered events since") || !strings.Contains(out, "1 already done, 1 credited now") {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	if q := lastQuery(api, "/v1/events", "delivery_success"); q != "false" {
		t.Errorf("delivery_success = %q, want false", q)
	}
}

// lastQuery is the query parameter param of the last request to path.
func lastQuery(api *stripemock.Recorded, path, param string) string {
	var q string
	for _, r := range api.Requests() {
		if r.URL.Path == path {
			q = r.URL.Query().Get(param)
		}
	}
	return q
}

// withDedupTTL rewrites p's config with dedup.ttl set to ttl (the config has no
// dedup section of its own).
func withDedupTTL(t *testing.T, p *proxy, ttl string) {
	t.Helper()
	cfg, err := os.ReadFile(p.cfgPath)
	must(t, err)
	must(t, os.WriteFile(p.cfgPath, append(cfg, []byte("dedup:\n  ttl: "+ttl+"\n")...), 0o600))
}

// TestReconcileRefusesWhatItCannotDedup: a window longer than dedup.ttl, and the
// in-memory store while a server owns it, are refused with messages naming the
// setting; once the server is gone, the store is free.
func TestReconcileRefusesWhatItCannotDedup(t *testing.T) {
	requireRedis(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, newBackend(t), apiRoute, api.URL, "sk_test_recorded")
	withDedupTTL(t, p, "100h")
	out, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "200h")
	if err == nil || !strings.Contains(out+err.Error(), "beyond dedup.ttl (100h0m0s)") {
		t.Errorf("--since 200h with dedup.ttl 100h: %v\n%s", err, out)
	}
	if len(api.Requests()) != 0 {
		t.Errorf("a refused reconcile read the API")
	}

	m := startProxy(t, newBackend(t), options{redisURL: "memory"})
	_, err = m.runCLI("reconcile", "--config", m.cfgPath, "--route", "main")
	if err == nil || !strings.Contains(err.Error(), "belongs to a running `creditgate serve`") || !strings.Contains(err.Error(), "redis.url") {
		t.Fatalf("reconcile on a served in-memory store: %v", err)
	}
	must(t, m.stop())
	_, err = m.runCLI("reconcile", "--config", m.cfgPath, "--route", "main")
	if err == nil || !strings.Contains(err.Error(), "has no Stripe API key") {
		t.Errorf("after the server stopped, reconcile should get past the store: %v", err)
	}
}
