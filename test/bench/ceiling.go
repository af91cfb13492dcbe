package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// The ceiling is the least a server can do for one webhook and still be correct in
// the happy path: read the body, verify the Stripe signature with crypto/hmac, decode
// the fields it needs into a small struct, claim the session with one Redis SET NX,
// forward one signed JSON request to the same sink, answer 200. No config, no
// metrics, no logs, no retries, no dead-letter list, no release on failure. It runs as
// its own process (the harness re-executes itself with "ceiling"), so it is measured
// exactly like creditgate.
//
// Its secrets come from the environment: BENCH_STRIPE_SECRET, BENCH_FORWARD_KEY.

type benchCeiling struct {
	secret []byte
	key    []byte
	prefix string
	sink   string
	rdb    *redis.Client
	hc     *http.Client
}

func benchRunCeiling(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := fs.String("prefix", "cgbench:ceiling:", "Redis key prefix")
	sink := fs.String("sink", "", "backend URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &benchCeiling{
		secret: []byte(os.Getenv("BENCH_STRIPE_SECRET")),
		key:    []byte(os.Getenv("BENCH_FORWARD_KEY")),
		prefix: *prefix,
		sink:   *sink,
		rdb:    redis.NewClient(&redis.Options{Addr: *redisAddr}),
		hc: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}, Timeout: 5 * time.Second},
	}
	defer c.rdb.Close()
	if len(c.secret) == 0 || len(c.key) == 0 || c.sink == "" {
		return errors.New("ceiling: BENCH_STRIPE_SECRET, BENCH_FORWARD_KEY and -sink are required")
	}
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		stop, err := benchStartProfile(p)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stripe/webhook", c.handle)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := c.rdb.Ping(r.Context()).Err(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// benchStartProfile writes a CPU profile to path until the returned func is called,
// and then an allocation profile to path + ".allocs".
func benchStartProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		if a, err := os.Create(path + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			_ = a.Close()
		}
	}, nil
}

type benchCeilingEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Created  int64  `json:"created"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object struct {
			ID            string            `json:"id"`
			Customer      string            `json:"customer"`
			PaymentIntent string            `json:"payment_intent"`
			PaymentStatus string            `json:"payment_status"`
			AmountTotal   int64             `json:"amount_total"`
			Currency      string            `json:"currency"`
			Metadata      map[string]string `json:"metadata"`
		} `json:"object"`
	} `json:"data"`
}

type benchCeilingForward struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	UserID     string `json:"user_id"`
	Credits    int64  `json:"credits"`
	Livemode   bool   `json:"livemode"`
	OccurredAt string `json:"occurred_at"`
	Stripe     struct {
		EventID         string `json:"event_id"`
		EventType       string `json:"event_type"`
		SessionID       string `json:"session_id"`
		CustomerID      string `json:"customer_id"`
		PaymentIntentID string `json:"payment_intent_id"`
		AmountTotal     int64  `json:"amount_total"`
		Currency        string `json:"currency"`
	} `json:"stripe"`
}

func (c *benchCeiling) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		benchAnswer(w, http.StatusRequestEntityTooLarge, "too_large", "")
		return
	}
	if !c.verify(body, r.Header.Get("Stripe-Signature")) {
		benchAnswer(w, http.StatusBadRequest, "invalid_signature", "")
		return
	}
	var ev benchCeilingEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Data.Object.ID == "" {
		benchAnswer(w, http.StatusBadRequest, "malformed_event", "")
		return
	}
	o := &ev.Data.Object
	credits, err := strconv.ParseInt(o.Metadata["credits"], 10, 64)
	if err != nil || credits <= 0 || o.Metadata["user_id"] == "" || o.PaymentStatus != "paid" {
		benchAnswer(w, http.StatusOK, "ignored", ev.ID)
		return
	}
	ok, err := c.rdb.SetNX(r.Context(), c.prefix+"purchase:"+o.ID, "done", 720*time.Hour).Result()
	switch {
	case err != nil:
		benchAnswer(w, http.StatusServiceUnavailable, "store_unavailable", ev.ID)
		return
	case !ok:
		benchAnswer(w, http.StatusOK, "duplicate", ev.ID)
		return
	}
	var f benchCeilingForward
	f.ID, f.Type, f.UserID, f.Credits, f.Livemode = o.ID, "credit.granted", o.Metadata["user_id"], credits, ev.Livemode
	f.OccurredAt = time.Unix(ev.Created, 0).UTC().Format(time.RFC3339)
	f.Stripe.EventID, f.Stripe.EventType, f.Stripe.SessionID = ev.ID, ev.Type, o.ID
	f.Stripe.CustomerID, f.Stripe.PaymentIntentID, f.Stripe.AmountTotal, f.Stripe.Currency = o.Customer, o.PaymentIntent, o.AmountTotal, o.Currency
	out, _ := json.Marshal(&f)
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, c.sink, bytes.NewReader(out))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", o.ID)
	req.Header.Set("Creditgate-Signature", c.sign(out))
	resp, err := c.hc.Do(req)
	if err != nil {
		benchAnswer(w, http.StatusServiceUnavailable, "backend_unavailable", ev.ID)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusConflict {
		benchAnswer(w, http.StatusServiceUnavailable, "backend_unavailable", ev.ID)
		return
	}
	benchAnswer(w, http.StatusOK, "forwarded", ev.ID)
}

// verify checks "t=...,v1=..." against the one secret, within 300 s either way.
func (c *benchCeiling) verify(body []byte, header string) bool {
	var ts string
	var sigs []string
	for item := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(item, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return false
	}
	if d := time.Now().Unix() - t; d > 300 || d < -300 {
		return false
	}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (c *benchCeiling) sign(body []byte) string {
	t := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(t))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func benchAnswer(w http.ResponseWriter, code int, status, eventID string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"status\":%q,\"event_id\":%q}\n", status, eventID)
}
