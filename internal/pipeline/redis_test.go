package pipeline_test

import (
	"time"

	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/storekey"
)

// roundTrips counts the round trips a client makes (a command or a pipeline each),
// except the handshake of a new connection (HELLO, CLIENT SETNAME / SETINFO).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.count(cmd); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.count(cmds[0]); return next(ctx, cmds) }
}
func (r *roundTrips) count(first redis.Cmder) {
	switch first.Name() {
	case "hello", "client", "auth", "select":
		return
	}
	r.n.Add(1)
}

// redisEnv is env with the production stores: dedup and purchase records in one
// Redis under one prefix and their one Book, the claims, settlements and customer map
// sharing round trips (redisclient.Batch), as cli wires them.
func redisEnv(t *testing.T) (*env, redis.UniversalClient, string, *roundTrips) {
	t.Helper()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	rt := &roundTrips{}
	c.AddHook(rt)
	e := newEnv(t, nil)
	withReversals(e)
	book := ledger.NewRedisBook(c, prefix)
	batch := redisclient.NewBatch(c, 1)
	book.Marks.Pipes = batch
	e.p.Store, e.p.Records, e.p.Book = book.Marks, book.Records, book
	customers := ledger.NewRedisCustomers(c, prefix)
	customers.Pipes = batch
	e.p.Customers = customers
	return e, c, prefix, rt
}

// TestProcessOnRedisRoundTrips: a credited purchase costs two Redis round trips
// (both claims with the customer map's learn, then the settlement with the purchase
// record), and everything it wrote is where the next events look for it: the refund
// finds the record.
func TestProcessOnRedisRoundTrips(t *testing.T) {
	e, c, prefix, rt := redisEnv(t)
	ctx := context.Background()
	// The store's first claim finds out, once, whether the server takes SET NX GET.
	if _, err := e.p.Store.Claim(ctx, "warm-up", "tok", lease); err != nil {
		t.Fatal(err)
	}
	rt.n.Store(0)
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
		t.Fatalf("grant: %+v", o)
	}
	if n := rt.n.Load(); n != 2 {
		t.Errorf("a credited purchase took %d Redis round trips, want 2 (claims with the customer map, settlement)", n)
	}
	for _, k := range []string{eventKey(paidEvent), purchaseKey(paidSession)} {
		if v := c.Get(ctx, prefix+k).Val(); v != "done" {
			t.Errorf("%s = %q, want done", k, v)
		}
	}
	if v := c.Get(ctx, prefix+storekey.CustomerMap(route, paidCust)).Val(); v != user1 {
		t.Errorf("customer map = %q, want %s", v, user1)
	}
	rec, ok, err := e.p.Records.Get(ctx, storekey.Record(route, paidPI))
	if err != nil || !ok || rec.Credits != 100 || rec.UserID != user1 || rec.PurchaseID != paidSession {
		t.Fatalf("record = %+v, %v, %v", rec, ok, err)
	}
	if o := e.process(refund(t, "evt_r1", 999)); o.Result != outcome.Forwarded || o.Reversed != 100 {
		t.Fatalf("refund: %+v", o)
	}
	rt.n.Store(0)
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Duplicate {
		t.Fatalf("redelivery: %+v", o)
	}
	if n := rt.n.Load(); n != 1 {
		t.Errorf("a duplicate took %d Redis round trips, want 1 (both claims find done; the learn goes with them)", n)
	}
}

// failingSettle fails the first n pipelines that write a done mark (the settlement
// and its purchase record) before they reach Redis, as a timeout would.
type failingSettle struct{ n atomic.Int64 }

func (f *failingSettle) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (f *failingSettle) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f *failingSettle) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if args := c.Args(); len(args) > 2 && args[2] == "done" && f.n.Add(-1) >= 0 {
				err := errors.New("injected: settle timed out")
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}

// TestProcessOnRedisRecordNotWritten: on a route that takes credits back, a grant
// whose settlement (and so its purchase record) cannot be written after the backend
// took the credit answers 503 and releases its claims; Stripe's retry is credited
// again by nobody (the backend answers 409) and writes the record then. On a route
// without reversals the same failure is only logged: the credit stands.
func TestProcessOnRedisRecordNotWritten(t *testing.T) {
	e, c, prefix, _ := redisEnv(t)
	ctx := context.Background()
	fs := &failingSettle{}
	fs.n.Store(2) // the settlement and its one retry
	c.AddHook(fs)
	o := e.process(delivery(t, paidFile))
	if o.Result != outcome.StoreUnavailable || o.Reason != "store" {
		t.Fatalf("grant with a failed settlement: %s/%s, want store_unavailable/store", o.Result, o.Reason)
	}
	for _, k := range []string{eventKey(paidEvent), purchaseKey(paidSession)} {
		if n := c.Exists(ctx, prefix+k).Val(); n != 0 {
			t.Errorf("%s is still held after the failure: %q", k, c.Get(ctx, prefix+k).Val())
		}
	}
	o = e.process(delivery(t, paidFile))
	if o.Result != outcome.Forwarded || o.Reason != "already_credited" {
		t.Fatalf("Stripe's retry: %s/%s, want forwarded/already_credited", o.Result, o.Reason)
	}
	if _, ok, _ := e.p.Records.Get(ctx, storekey.Record(route, paidPI)); !ok {
		t.Error("no purchase record after the retry")
	}
	if n := e.be.granted(); n != 1 {
		t.Errorf("backend granted %d credits, want 1", n)
	}

	// The same failure on a route that does not take credits back.
	e2, c2, prefix2, _ := redisEnv(t)
	for typ := range outcome.ReversalEvents {
		delete(e2.rt.Events, typ)
	}
	fs2 := &failingSettle{}
	fs2.n.Store(2)
	c2.AddHook(fs2)
	if o := e2.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
		t.Fatalf("grant on a route without reversals: %+v", o)
	}
	if n := c2.Exists(ctx, prefix2+eventKey(paidEvent)).Val(); n != 1 {
		t.Error("the event claim was released although the credit stands")
	}
}

// TestProcessOnRedisRecordLife: a purchase record lives dedup.record_ttl from its
// grant and from every reversal that changed it, while done markers keep dedup.ttl.
func TestProcessOnRedisRecordLife(t *testing.T) {
	e, c, prefix, _ := redisEnv(t)
	e.p.RecordTTL = 4320 * time.Hour
	ctx := context.Background()
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
		t.Fatalf("grant: %+v", o)
	}
	recKey := prefix + "record:" + storekey.Record(route, paidPI)
	if got := c.PTTL(ctx, recKey).Val(); got <= 4319*time.Hour {
		t.Errorf("record ttl after the grant = %s, want 4320h", got)
	}
	if got := c.PTTL(ctx, prefix+eventKey(paidEvent)).Val(); got > ttl {
		t.Errorf("done marker ttl = %s, want dedup.ttl %s", got, ttl)
	}
	c.PExpire(ctx, recKey, time.Hour)
	if o := e.process(refund(t, "evt_r1", 500)); o.Result != outcome.Forwarded {
		t.Fatalf("refund: %+v", o)
	}
	if got := c.PTTL(ctx, recKey).Val(); got <= 4319*time.Hour {
		t.Errorf("record ttl after a refund = %s, want 4320h again", got)
	}
}
