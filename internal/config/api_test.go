package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/outcome"
)

// TestAPIAndConnectKeys checks the keys of the Stripe API sources, reversals and
// Connect: each case is one route and the problems it must (or must not) produce.
func TestAPIAndConnectKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	testKey, liveKey, pubKey := write("test-key", "sk_test_abc"), write("live-key", "rk_live_abc"), write("pub-key", "pk_test_abc")
	tests := []struct {
		name  string
		route string
		want  []string // problems that must appear; none means the config is valid
	}{
		{"price_table with key", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    extract: {credits: [price_table, metadata.credits], price_table: {price_1PgcA0: 100, plan_gold: 5}}`, nil},
		{"price_table without key", `
    stripe: {signing_secrets: [whsec_x]}
    extract: {credits: [price_table], price_table: {price_1: 100}}`,
			[]string{"routes[0].stripe.api_key_file: is required"}},
		{"price_table empty", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    extract: {credits: [price_table]}`,
			[]string{"routes[0].extract.price_table: is empty, but extract.credits lists price_table"}},
		{"price_table unused", `
    stripe: {signing_secrets: [whsec_x]}
    extract: {price_table: {price_1: 100}}`,
			[]string{"would never be used"}},
		{"price_table bad entries", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    extract: {credits: [price_table], max_credits: 1000, price_table: {prod_1: 5, price_2: 0, price_3: 1001}}`,
			[]string{`key "prod_1" is not a Stripe price id`, `"price_2" gives 0 credits`, `"price_3" gives 1001 credits`}},
		{"invoice.paid needs the API", `
    stripe: {signing_secrets: [whsec_x]}
    events: [invoice.paid]`,
			[]string{"routes[0].stripe.api_key_file: is required"}},
		{"publishable key refused", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + pubKey + `}
    extract: {credits: [price_metadata]}`,
			[]string{"must hold a secret (sk_...) or restricted (rk_...) Stripe API key"}},
		{"live key on a test route", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + liveKey + `}
    extract: {credits: [price_metadata]}`,
			[]string{"holds a live-mode key, but the route has livemode: false"}},
		{"api_timeout and base url", `
    stripe: {signing_secrets: [whsec_x], api_timeout: 10ms, api_base_url: "ftp://x/y"}`,
			[]string{"routes[0].stripe.api_timeout: must be between 100ms", "routes[0].stripe.api_base_url: must be an http"}},
		{"reversals and new user sources", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    events: [checkout.session.completed, invoice.paid, charge.refunded, charge.dispute.created, charge.dispute.closed]
    extract: {user_id: [subscription.metadata.user_id, customer.metadata.user_id, customer_map], credits: [price_metadata]}`, nil},
		{"connect with allow-list and price_table", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    connect: true
    connect_accounts: [acct_1bYhhkDlE8OUkVJV]
    extract: {credits: [price_table], price_table: {price_1: 100}}`, nil},
		{"connect with account-written credits", `
    stripe: {signing_secrets: [whsec_x], api_key_file: ` + testKey + `}
    connect: true
    extract: {credits: [price_table, price_metadata, metadata.credits], price_table: {price_1: 100}}`,
			[]string{`routes[0].extract.credits[1]: "price_metadata" on a Connect route`, `routes[0].extract.credits[2]: "metadata.credits" on a Connect route`, "connect_trust_accounts: true"}},
		{"connect by default (metadata.credits)", `
    stripe: {signing_secrets: [whsec_x]}
    connect: true`,
			[]string{`routes[0].extract.credits[0]: "metadata.credits" on a Connect route takes the credits from what the connected account wrote`}},
		{"connect trusting its accounts", `
    stripe: {signing_secrets: [whsec_x]}
    connect: true
    connect_trust_accounts: true`, nil},
		{"read budget out of range", `
    stripe: {signing_secrets: [whsec_x], api_reads_per_second: 101}`,
			[]string{"routes[0].stripe.api_reads_per_second: must be between 1 and 100, got 101"}},
		{"trust without connect", `
    stripe: {signing_secrets: [whsec_x]}
    connect_trust_accounts: true`,
			[]string{"routes[0].connect_trust_accounts: is set, but the route is not a Connect route"}},
		{"allow-list without connect, bad account", `
    stripe: {signing_secrets: [whsec_x]}
    connect_accounts: [cus_1]`,
			[]string{"routes[0].connect_accounts: is set, but the route is not a Connect route", "routes[0].connect_accounts[0]: must be a connected account id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := `
redis: {url: "redis://127.0.0.1:6379/0"}
routes:
  - name: main
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}` + tt.route + "\n"
			_, err := Parse([]byte(raw), dir, env(nil))
			wantProblems(t, err, tt.want)
		})
	}
}

func TestAPIDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
`), "", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if r.Stripe.APIReadsPerSecond != 20 {
		t.Errorf("api_reads_per_second default %d, want 20", r.Stripe.APIReadsPerSecond)
	}
	if r.Stripe.APITimeout != DefaultAPITimeout || r.Stripe.APIBaseURL != "https://api.stripe.com" || r.Connect || r.UsesAPI() {
		t.Errorf("defaults: %+v connect %t usesAPI %t", r.Stripe, r.Connect, r.UsesAPI())
	}
}

func TestStripeAPIExampleLoads(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../../examples/config-stripe-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stripe-api-key"), []byte("rk_test_example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(raw, dir, env(map[string]string{
		"STRIPE_WEBHOOK_SECRET": "whsec_a", "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_b",
		"CREDITGATE_FORWARD_KEY": "0123456789abcdef0123456789abcdef", "REDIS_URL": "redis://redis:6379/0",
	}))
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	if r := cfg.Routes[0]; !r.UsesAPI() || r.Extract.PriceTable["price_1PgcA0B7WZ01zgkWcredit500"] != 500 || !cfg.Routes[1].Connect {
		t.Errorf("routes: %+v", cfg.Routes)
	}
	if r := cfg.Routes[1]; r.ConnectTrustAccounts || len(r.Extract.Credits) != 1 || r.Extract.Credits[0] != outcome.SourcePriceTable {
		t.Errorf("the example's Connect route must take credits only from its price_table: %+v", r.Extract)
	}
}

// TestConnectNotes: check-config names a Connect route that trusts its accounts.
func TestConnectNotes(t *testing.T) {
	r := Route{Connect: true, ConnectTrustAccounts: true, ConnectAccounts: []string{"acct_1"},
		Extract: Extract{Credits: []string{outcome.SourcePriceTable, outcome.SourceMetadataCredits}, MaxCredits: 500}}
	notes := strings.Join(r.Notes(), "\n")
	for _, w := range []string{"TRUSTS acct_1 to set its own credits (metadata.credits; connect_trust_accounts: true)", "max_credits (500)", `scoped by account ("acct_…:<user id>")`} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	r.ConnectTrustAccounts = false
	if notes := strings.Join(r.Notes(), "\n"); strings.Contains(notes, "TRUSTS") {
		t.Errorf("a route without connect_trust_accounts is named as trusting: %s", notes)
	}
	if n := (&Route{}).Notes(); len(n) != 0 {
		t.Errorf("notes for a plain route: %q", n)
	}
}

// TestReversalsNeedRecords: a route that takes credits back needs purchase records
// that live 180 days (the default) and survive a restart (Redis).
func TestReversalsNeedRecords(t *testing.T) {
	const route = `
routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
    events: [checkout.session.completed, refund.updated]
`
	const redis = "redis: {url: \"redis://127.0.0.1:6379/0\"}\n"
	tests := []struct {
		name, raw string
		want      []string // problems; none: valid
	}{
		{"default life on redis", redis + route, nil},
		{"a shorter life", redis + "dedup: {record_ttl: 2880h}\n" + route,
			[]string{"dedup.record_ttl: must be at least 4320h0m0s (180 days) because routes[0] takes credits back"}},
		{"the in-memory store", route,
			[]string{"routes[0].events: lists reversal events, but the in-memory store loses every purchase record on restart"}},
		{"no reversals: a short life and memory are fine", "dedup: {record_ttl: 72h}\n" + strings.Replace(route, ", refund.updated", "", 1), nil},
		{"shorter than Stripe's retries", "dedup: {record_ttl: 1h}\n" + strings.Replace(route, ", refund.updated", "", 1),
			[]string{"dedup.record_ttl: must be at least 72h0m0s, got 1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.raw), "", env(nil))
			wantProblems(t, err, tt.want)
			if err == nil && cfg.Dedup.RecordTTL < MinRecordTTL && !strings.Contains(tt.raw, "record_ttl") {
				t.Errorf("default record_ttl = %s", cfg.Dedup.RecordTTL)
			}
		})
	}
}

// wantProblems checks that err lists every problem in want; no problem when want is empty.
func wantProblems(t *testing.T, err error, want []string) {
	t.Helper()
	switch {
	case len(want) == 0 && err != nil:
		t.Fatalf("unexpected problems:\n%v", err)
	case len(want) > 0 && err == nil:
		t.Fatalf("no problem, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}
