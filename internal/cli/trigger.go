package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
)

func runTrigger(ctx context.Context, env Env, args []string) error {
	fs := newFlags("trigger", env)
	cfgPath := fs.String("config", "", "take the secret, path and livemode of --route from this config")
	route := fs.String("route", "", "route name in --config (default: the first)")
	secretFlag := fs.String("secret", "", "signing secret (whsec_...); default $STRIPE_WEBHOOK_SECRET or the config's")
	url := fs.String("url", "", "where to POST (default http://127.0.0.1<listen><path>)")
	user := fs.String("user", "e747de39-1b54-4cd0-96eb-e68f155931e2", "metadata.user_id and client_reference_id (empty: none)")
	credits := fs.String("credits", "100", "metadata.credits (a string, as Stripe carries it; empty: none)")
	typ := fs.String("type", outcome.EventSessionCompleted, "event type")
	session := fs.String("session", "", "Checkout Session id (default: a fresh cs_test_...)")
	eventID := fs.String("event", "", "event id (default: a fresh evt_...)")
	payment := fs.String("payment-status", "paid", "paid | unpaid | no_payment_required")
	livemode := fs.Bool("livemode", false, "livemode of the event (default: the route's)")
	customer := fs.String("customer", "", "customer id (default: a fresh cus_...)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	key, target, live := secret.New(*secretFlag), *url, *livemode
	var rc config.Route // the route, when --config names one
	if key.IsZero() {
		key = secret.New(env.Getenv("STRIPE_WEBHOOK_SECRET"))
	}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath, env)
		if err != nil {
			return err
		}
		rc = cfg.Routes[0]
		if *route != "" {
			found := false
			for _, r := range cfg.Routes {
				if r.Name == *route {
					rc, found = r, true
				}
			}
			if !found {
				return fmt.Errorf("no route %q in %s", *route, *cfgPath)
			}
		}
		if key.IsZero() {
			key = rc.Stripe.SigningSecrets[0]
		}
		if target == "" {
			_, port, _ := net.SplitHostPort(cfg.Listen)
			target = "http://127.0.0.1:" + port + rc.Path
		}
		if !flagSet(fs, "livemode") {
			live = rc.Livemode
		}
	}
	if key.IsZero() {
		return fmt.Errorf("no signing secret: pass --secret, set STRIPE_WEBHOOK_SECRET, or name a --config")
	}
	if target == "" {
		target = "http://127.0.0.1:8080/stripe/webhook"
	}
	body := demo.Session{
		EventID: *eventID, Type: *typ, SessionID: *session, UserID: *user, Credits: *credits,
		Customer: *customer, PaymentStatus: *payment, Livemode: live,
	}.Event()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := postSigned(ctx, &http.Client{Timeout: 30 * time.Second}, target, body, key, time.Now())
	if err != nil {
		return fmt.Errorf("POST %s: %w", target, err)
	}
	fmt.Fprintf(env.Stdout, "POST %s %s -> %d %s (event %s)\n", target, *typ, d.Code, d.Status, d.EventID)
	if d.Code/100 != 2 {
		if h := triggerHint(d.Status, rc); h != "" {
			fmt.Fprintln(env.Stderr, "creditgate trigger:", h)
		}
		return ExitError{Code: 1}
	}
	return nil
}

// triggerHint says what a failed answer means on a machine where someone is trying
// creditgate out: what is missing, and where.
func triggerHint(status string, rc config.Route) string {
	backend := "the route's forward.url"
	if rc.Forward.URL != "" {
		backend = rc.Forward.URL
	}
	switch status {
	case "backend_unavailable":
		return "the backend did not take the credit: nothing answered 2xx at " + backend +
			" (start your backend there, or point forward.url at it; `creditgate demo` runs one built in). " +
			"Stripe would retry this delivery."
	case "store_unavailable":
		return "the dedup store is unreachable: is Redis running at the config's redis.url? Stripe would retry this delivery."
	case "invalid_signature":
		return "the signature did not verify: --secret (or $STRIPE_WEBHOOK_SECRET) must be one of the route's signing_secrets."
	case "not_found":
		return "no route on that path: check --url against the routes' path."
	}
	return ""
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
