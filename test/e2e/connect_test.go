package e2e

import (
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// TestConnectAccountCannotMint: a connected account's session asks for a million
// credits in its metadata and names another account's user; the default Connect route
// credits what the platform's price_table says for the line items it reads with
// Stripe-Account, and the backend receives the user scoped by the account.
func TestConnectAccountCannotMint(t *testing.T) {
	requireRedis(t)
	const acct = "acct_1bYhhkDlE8OUkVJV"
	b := newBackend(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, b, apiRoute+`
    connect: true
    connect_accounts: [`+acct+`]
    extract:
      credits: [price_table]
      price_table: {price_1PgcA0B7WZ01zgkWbonus050: 50}
`, api.URL, "sk_test_recorded")
	evt, cs := newIDs()
	raw := mutate(t, withIDs(t, "checkout_session_completed_connect.json", evt, cs), func(o, ev map[string]any) {
		ev["account"] = acct
		o["metadata"] = map[string]any{"credits": "1000000", "user_id": user2}
		o["amount_total"] = 50
	})
	api.Set(map[string]stripemock.Reply{
		"GET /v1/checkout/sessions/" + cs + "/line_items @" + acct: stripemock.File(t, "../../internal/stripeapi/testdata/session_line_items_page2.json"),
	})
	if a := p.deliver(raw); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("%d %s, want 200 forwarded", a.Code, a.Status)
	}
	got := b.credited()[cs]
	if got.Credits != 50 || got.UserID != acct+":"+user2 || got.Stripe.Account != acct {
		t.Errorf("credit = %+v, want 50 credits for %s:%s", got, acct, user2)
	}
	for _, r := range api.Requests() {
		if r.Header.Get("Stripe-Account") != acct {
			t.Errorf("%s %s read without Stripe-Account %s", r.Method, r.URL.Path, acct)
		}
	}
	if out, err := p.runCLI("check-config", "--config", p.cfgPath); err != nil || strings.Contains(out, "TRUSTS") {
		t.Errorf("check-config of a price_table Connect route: %v\n%s", err, out)
	}
}
