package stripeapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBudgetBurstThenRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := NewBudget(5)
	b.now = clk.now
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	for i := range 5 {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("read %d of the burst: %v", i+1, err)
		}
	}
	if err := b.Wait(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("6th read with a 1ms deadline: err = %v, want ErrUnavailable", err)
	}
	clk.t = clk.t.Add(200 * time.Millisecond) // one token at 5/s
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("read after 200ms: %v", err)
	}
	if err := b.Wait(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second read after 200ms: err = %v, want ErrUnavailable", err)
	}
	clk.t = clk.t.Add(time.Hour) // refills to the burst, not beyond
	for i := range 5 {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("read %d after an hour: %v", i+1, err)
		}
	}
	if err := b.Wait(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the bucket held more than its burst: err = %v", err)
	}
}

// TestBudgetWaitsWithoutDeadline: a caller without a deadline (reconcile) waits for
// its token instead of failing.
func TestBudgetWaitsWithoutDeadline(t *testing.T) {
	b := NewBudget(50)
	for range 50 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait without a deadline did not get a token within 5s at 50/s")
	}
}

// TestClientSpendsBudget: every request of clients sharing a Budget spends it, and a
// request with no room before its deadline never reaches Stripe.
func TestClientSpendsBudget(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"cus_1","object":"customer","metadata":{}}`))
	}))
	defer srv.Close()
	b := NewBudget(2)
	clients := []*Client{New(Options{BaseURL: srv.URL, Budget: b, Retries: -1}), New(Options{BaseURL: srv.URL, Budget: b, Retries: -1})}
	// 2 tokens now, the next one 500ms after NewBudget: a 400ms deadline admits exactly
	// two requests, with room for a slow machine to serve them (50ms was too tight for
	// CI under -race).
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var failed int
	for i := range 4 {
		if _, err := clients[i%2].CustomerMetadata(ctx, "", "cus_1"); err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			failed++
		}
	}
	if hits.Load() != 2 || failed != 2 {
		t.Fatalf("%d requests reached the API and %d failed, want 2 and 2", hits.Load(), failed)
	}
}

// BenchmarkBudgetWait is the cost of the read budget on every Stripe API call when
// it has room (the common case).
func BenchmarkBudgetWait(b *testing.B) {
	bu := NewBudget(100)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	bu.now = func() time.Time { clk.t = clk.t.Add(20 * time.Millisecond); return clk.t }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := bu.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
