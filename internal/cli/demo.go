package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
)

// runDemo starts the proxy on the in-memory store with a built-in backend, sends a
// few signed events, and prints what happened to each and the resulting balance.
func runDemo(ctx context.Context, env Env, args []string) error {
	fs := newFlags("demo", env)
	verbose := fs.Bool("v", false, "also print creditgate's JSON log lines")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "creditgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	stripeSecret := secret.New(demo.NewID("whsec_"))
	forwardKey := secret.New(demo.NewID("demo-forward-key-"))
	backend := demo.NewBackend(forwardKey)
	backendLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	backendSrv := &http.Server{Handler: backend, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = backendSrv.Serve(backendLn) }()
	defer backendSrv.Close()

	cfg := &config.Config{
		Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		DeadLetter: config.DeadLetter{File: filepath.Join(dir, "dead-letters.jsonl")},
		Routes: []config.Route{{
			Name: "demo", Path: "/stripe/webhook",
			Stripe:  config.Stripe{SigningSecrets: []secret.Secret{stripeSecret}},
			Extract: config.Extract{UserIDFormat: "uuid"},
			Forward: config.Forward{URL: "http://" + backendLn.Addr().String() + "/internal/credits", SigningKeys: []secret.Secret{forwardKey}},
		}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	logOut := io.Discard
	if *verbose {
		logOut = env.Stderr
	}
	log := newLogger(logOut, "info")
	a, err := build(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	webhookLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(sctx, log, webhookLn, adminLn,
			server.NewWebhookHandler(server.Deps{Logger: log, Metrics: a.metrics, Pipeline: a.pipeline, Routes: a.routes, MaxBodyBytes: cfg.MaxBodyBytes}),
			server.NewAdminHandler(a.registry, a.log, a.checkers()...), time.Second)
	}()
	defer func() { stop(); <-served }()

	url := "http://" + webhookLn.Addr().String() + "/stripe/webhook"
	user := "e747de39-1b54-4cd0-96eb-e68f155931e2"
	purchase := demo.Session{UserID: user, Credits: "100"}.Event()
	sepa := demo.NewID("cs_test_")
	steps := []struct {
		what string
		body []byte
		key  secret.Secret
	}{
		{"purchase of 100 credits (checkout.session.completed, paid)", purchase, stripeSecret},
		{"Stripe delivers the same event again", purchase, stripeSecret},
		{"forged event, signed with the wrong secret", demo.Session{UserID: user, Credits: "1000000"}.Event(), secret.New("whsec_forged")},
		{"SEPA purchase of 50 credits, payment not yet settled", demo.Session{SessionID: sepa, UserID: user, Credits: "50", PaymentStatus: "unpaid"}.Event(), stripeSecret},
		{"the SEPA payment settles (async_payment_succeeded)", demo.Session{Type: outcome.EventAsyncPaymentSucceeded, SessionID: sepa, UserID: user, Credits: "50"}.Event(), stripeSecret},
		{"a purchase whose session carries no user id", demo.Session{Credits: "10"}.Event(), stripeSecret},
	}
	fmt.Fprintf(env.Stdout, "creditgate demo: proxy on %s, demo backend on %s, in-memory store\n\n", url, backendLn.Addr())
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tevent sent\tanswer to Stripe")
	client := &http.Client{Timeout: 15 * time.Second}
	for i, s := range steps {
		d, err := postSigned(ctx, client, url, s.body, s.key, time.Now())
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d %s\n", i+1, s.what, d.Code, d.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n, err := a.deadLetters.Len(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nbackend balance of user %s: %d credits (%d credit requests applied)\n", user, backend.Balance(user), backend.Applied())
	fmt.Fprintf(env.Stdout, "dead-letter list: %d entry (inspect with `creditgate dlq list` in a real deployment)\n", n)
	if backend.Balance(user) != 150 {
		return errors.New("demo: unexpected balance; something is wrong")
	}
	return nil
}
