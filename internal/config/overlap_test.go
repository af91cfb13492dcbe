package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestPurchaseOverlap: a route granting sessions and another granting invoices, able
// to see one Stripe account, is refused; routes that cannot share an account, or one
// route with both, are accepted.
func TestPurchaseOverlap(t *testing.T) {
	route := func(name, path, extra string) string {
		return `
  - name: ` + name + `
    path: ` + path + `
    stripe: {signing_secrets: [whsec_x], api_key_file: ""}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
` + extra
	}
	const sessions = "    events: [checkout.session.completed]\n"
	const invoices = "    events: [invoice.paid]\n"
	const both = "    events: [checkout.session.completed, invoice.paid]\n"
	tests := []struct {
		name    string
		routes  string
		refused bool
	}{
		{"split on one account", route("a", "/a", sessions) + route("b", "/b", invoices), true},
		{"split, the invoices route also has sessions", route("a", "/a", sessions) + route("b", "/b", both), true},
		{"both on one route", route("a", "/a", both), false},
		{"split across livemode", route("a", "/a", sessions) + route("b", "/b", invoices+"    livemode: true\n"), false},
		{"platform and Connect", route("a", "/a", sessions) + route("b", "/b", invoices+"    connect: true\n"), false},
		{"Connect, disjoint accounts", route("a", "/a", sessions+"    connect: true\n    connect_accounts: [acct_1A]\n") +
			route("b", "/b", invoices+"    connect: true\n    connect_accounts: [acct_1B]\n"), false},
		{"Connect, one account shared", route("a", "/a", sessions+"    connect: true\n    connect_accounts: [acct_1A, acct_1C]\n") +
			route("b", "/b", invoices+"    connect: true\n    connect_accounts: [acct_1C]\n"), true},
		{"Connect without an allow-list", route("a", "/a", sessions+"    connect: true\n") +
			route("b", "/b", invoices+"    connect: true\n    connect_accounts: [acct_1C]\n"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{}
			if err := parseOnly(t, "routes:"+tt.routes, cfg); err != nil {
				t.Fatal(err)
			}
			var v problems
			cfg.validateOverlap(&v)
			err := v.err()
			if (err != nil) != tt.refused {
				t.Fatalf("refused = %v, want %t", err, tt.refused)
			}
			if tt.refused && !strings.Contains(err.Error(), `routes[1].events: invoice.paid on route "b" and the Checkout Session events on route "a" could grant one purchase twice`) {
				t.Errorf("message: %v", err)
			}
		})
	}
}

func TestSubscriptionDefaults(t *testing.T) {
	cfg := &Config{}
	if err := parseOnly(t, `routes: [{name: a, events: [invoice.paid]}, {name: b}]`, cfg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Routes[0].Extract.UserID, ","); got != "metadata.user_id,client_reference_id,subscription.metadata.user_id,customer_map" {
		t.Errorf("invoice route's user sources: %s", got)
	}
	if got := strings.Join(cfg.Routes[1].Extract.UserID, ","); got != "metadata.user_id,client_reference_id,customer_map" {
		t.Errorf("session route's user sources: %s", got)
	}
	if cfg.Routes[0].Extract.InvoiceUserWait != 24*time.Hour || cfg.Dedup.CustomerTTL != 9600*time.Hour {
		t.Errorf("wait %s, customer ttl %s", cfg.Routes[0].Extract.InvoiceUserWait, cfg.Dedup.CustomerTTL)
	}
}

// parseOnly decodes YAML into cfg and applies the defaults, without validating.
func parseOnly(t *testing.T, raw string, cfg *Config) error {
	t.Helper()
	if err := yaml.Unmarshal([]byte(raw), cfg); err != nil {
		return err
	}
	cfg.ApplyDefaults()
	return nil
}
