package redisclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// gate is a go-redis hook that holds the first pipeline until opened, so that a test
// can line callers up behind a round trip on its way.
type gate struct {
	once, opened sync.Once
	entered      chan struct{}
	open         chan struct{}
}

// newGate returns a closed gate, opened at the latest when t ends.
func newGate(t *testing.T) *gate {
	g := &gate{entered: make(chan struct{}), open: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *gate) release() { g.opened.Do(func() { close(g.open) }) }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		first := false
		g.once.Do(func() { first = true; close(g.entered) })
		if first {
			<-g.open
		}
		return next(ctx, cmds)
	}
}

// heldBatch is a Batch (one trip at a time) on a client of the test Redis whose first
// round trip, a SET of prefix+"held", is held at g.
type heldBatch struct {
	c      *redis.Client
	g      *gate
	prefix string
	b      *redisclient.Batch
	held   <-chan error // the held call's error, once g opens
}

func newHeldBatch(t *testing.T) heldBatch {
	c, g := gatedClient(t)
	hb := heldBatch{c: c, g: g, prefix: redistest.Prefix(t, c), b: redisclient.NewBatch(c, 1)}
	hb.held = holdFirstTrip(t.Context(), hb.b, g, hb.prefix+"held")
	return hb
}

// holdFirstTrip sends one SET of key through b and returns once its round trip is
// held at g; the call's error arrives when g opens.
func holdFirstTrip(ctx context.Context, b *redisclient.Batch, g *gate, key string) <-chan error {
	held := make(chan error, 1)
	go func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, key, "1", time.Minute); return nil })
		held <- err
	}()
	<-g.entered
	return held
}

// gatedClient is a client of the test Redis whose first pipeline waits for g.
func gatedClient(t *testing.T) (*redis.Client, *gate) {
	t.Helper()
	c := redis.NewClient(redistest.Client(t).(*redis.Client).Options())
	t.Cleanup(func() { _ = c.Close() })
	g := newGate(t)
	c.AddHook(g)
	return c, g
}

// TestBatchSharesRoundTrips: callers that arrive while a round trip is on its way go
// out together in the next one, each with exactly its own answers: plain commands, a
// SET NX that finds its key taken, a GET of a missing key (redis.Nil), a transaction.
func TestBatchSharesRoundTrips(t *testing.T) {
	ctx := t.Context()
	c, g := gatedClient(t)
	prefix := redistest.Prefix(t, c)
	b := redisclient.NewBatch(c, 1)

	first := holdFirstTrip(ctx, b, g, prefix+"first") // on its way, holding the only place

	const callers = 40
	if err := c.Set(ctx, prefix+"taken", "someone", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- batchCaller(ctx, b, prefix, i)
		}()
	}
	waitQueued(t, b, c, prefix, callers)
	g.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	calls, trips := b.Trips()
	if calls != callers+1 || trips != 2 {
		t.Errorf("%d calls went in %d round trips, want %d in 2 (the held one, then all the others)", calls, trips, callers+1)
	}
}

// waitQueued waits until n callers are queued behind the held round trip: until then,
// nothing of theirs may have reached Redis.
func waitQueued(t *testing.T, b *redisclient.Batch, c *redis.Client, prefix string, n int) {
	t.Helper()
	untilQueued(t, b, n)
	if v := c.Exists(t.Context(), prefix+"k0").Val(); v != 0 {
		t.Fatal("a queued caller's command reached Redis before the held round trip came back")
	}
}

// untilQueued waits until n callers wait in b's queue.
func untilQueued(t *testing.T, b *redisclient.Batch, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for redisclient.Queued(b) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers queued", redisclient.Queued(b), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// batchCaller makes caller i's calls and checks its answers.
func batchCaller(ctx context.Context, b *redisclient.Batch, prefix string, i int) error {
	key := fmt.Sprintf("%sk%d", prefix, i)
	if i%2 == 0 {
		var set *redis.StatusCmd
		var nx *redis.BoolCmd
		var miss *redis.StringCmd
		cmds, err := b.Pipelined(ctx, func(p redis.Pipeliner) error {
			set = p.Set(ctx, key, i, time.Minute)
			nx = p.SetNX(ctx, prefix+"taken", i, time.Minute)
			miss = p.Get(ctx, key+":missing")
			return nil
		})
		switch {
		case len(cmds) != 3:
			return fmt.Errorf("caller %d got %d commands back, want its 3", i, len(cmds))
		case !errors.Is(err, redis.Nil):
			return fmt.Errorf("caller %d: pipeline error %v, want redis.Nil (its GET of a missing key) as the client gives it", i, err)
		case set.Val() != "OK" || set.Err() != nil:
			return fmt.Errorf("caller %d: SET = %q, %v", i, set.Val(), set.Err())
		case nx.Val() || nx.Err() != nil:
			return fmt.Errorf("caller %d: SET NX on a taken key = %t, %v", i, nx.Val(), nx.Err())
		case !errors.Is(miss.Err(), redis.Nil):
			return fmt.Errorf("caller %d: GET of a missing key: %v", i, miss.Err())
		}
		return nil
	}
	var nx, nxTaken *redis.BoolCmd
	var get *redis.StringCmd
	cmds, err := b.TxPipelined(ctx, func(p redis.Pipeliner) error {
		nx = p.SetNX(ctx, key, i, time.Minute)
		nxTaken = p.SetNX(ctx, prefix+"taken", i, time.Minute)
		get = p.Get(ctx, key)
		return nil
	})
	switch {
	case err != nil || len(cmds) != 3:
		return fmt.Errorf("caller %d: transaction: %d commands, %v", i, len(cmds), err)
	case !nx.Val() || nxTaken.Val():
		return fmt.Errorf("caller %d: SET NX free = %t, taken = %t; want true, false", i, nx.Val(), nxTaken.Val())
	case get.Val() != fmt.Sprint(i):
		return fmt.Errorf("caller %d: GET in its own transaction = %q, want %d", i, get.Val(), i)
	}
	return nil
}

// TestBatchTransactionAllOrNothing: a transaction that Redis refuses at queue time (an
// ACL that forbids one of its keys) writes nothing, beside a plain pipeline of another
// caller in the same round trip that goes through; the refused command carries NOPERM,
// the others EXECABORT.
func TestBatchTransactionAllOrNothing(t *testing.T) {
	ctx := t.Context()
	own := redistest.Server(t) // ACL changes stay off the shared server
	if err := own.Do(ctx, "ACL", "SETUSER", "limited", "on", ">limited-pw", "~ok:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	limited := redis.NewClient(&redis.Options{Addr: own.(*redis.Client).Options().Addr, Username: "limited", Password: "limited-pw"})
	t.Cleanup(func() { _ = limited.Close() })
	g := newGate(t)
	limited.AddHook(g)
	b := redisclient.NewBatch(limited, 1)

	held := holdFirstTrip(ctx, b, g, "ok:held")
	var txCmds, plainCmds []redis.Cmder
	var txErr, plainErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		txCmds, txErr = b.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "ok:a", "1", time.Minute)
			p.SetNX(ctx, "forbidden:b", "1", time.Minute)
			return nil
		})
	}()
	untilQueued(t, b, 1)
	go func() {
		defer wg.Done()
		plainCmds, plainErr = b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "ok:c", "1", time.Minute); return nil })
	}()
	untilQueued(t, b, 2)
	g.release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if txErr == nil || len(txCmds) != 2 {
		t.Fatalf("refused transaction: %d commands, err %v; want 2 and an error", len(txCmds), txErr)
	}
	if err := txCmds[0].Err(); err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Errorf("the allowed SET of the refused transaction: %v, want EXECABORT", err)
	}
	if err := txCmds[1].Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("the forbidden SET NX: %v, want NOPERM", err)
	}
	if plainErr != nil || plainCmds[0].Err() != nil {
		t.Errorf("the other caller's pipeline in the same round trip: %v", plainErr)
	}
	for k, want := range map[string]int64{"ok:a": 0, "forbidden:b": 0, "ok:c": 1, "ok:held": 1} {
		if n := own.Exists(ctx, k).Val(); n != want {
			t.Errorf("%s exists %d, want %d", k, n, want)
		}
	}
	if _, trips := b.Trips(); trips != 2 {
		t.Errorf("%d round trips, want 2", trips)
	}
}

// TestBatchContextEndedBeforeSent: a caller whose context ends while it is queued gets
// the context's error, and none of its commands reach Redis.
func TestBatchContextEndedBeforeSent(t *testing.T) {
	ctx := t.Context()
	hb := newHeldBatch(t)
	c, g, prefix, b, held := hb.c, hb.g, hb.prefix, hb.b, hb.held
	gone, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.Pipelined(gone, func(p redis.Pipeliner) error { p.Set(gone, prefix+"gone", "1", time.Minute); return nil })
		done <- err
	}()
	untilQueued(t, b, 1)
	cancel()
	g.release()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("queued caller whose context ended: %v, want context.Canceled", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, prefix+"gone").Val(); n != 0 {
		t.Error("the ended caller's SET reached Redis")
	}
	if calls, _ := b.Trips(); calls != 1 {
		t.Errorf("%d calls sent, want 1 (the held one)", calls)
	}
}

// TestBatchConnectionFailure: when Redis cannot be reached every caller gets the
// client's error on every command, nobody waits forever.
func TestBatchConnectionFailure(t *testing.T) {
	ctx := t.Context()
	b := redisclient.NewBatch(redistest.Unreachable(t), 2)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn := func(p redis.Pipeliner) error { p.Set(ctx, fmt.Sprint("k", i), "1", time.Minute); return nil }
			run := b.Pipelined
			if i%2 == 1 {
				run = b.TxPipelined
			}
			cmds, err := run(ctx, fn)
			if err == nil || len(cmds) != 1 || cmds[0].Err() == nil {
				t.Errorf("caller %d without Redis: %d commands, err %v", i, len(cmds), err)
			}
		}()
	}
	wg.Wait()
}

// TestBatchTransactionTypes: the command types a batched transaction answers, and a
// clear error for one it does not.
func TestBatchTransactionTypes(t *testing.T) {
	ctx := t.Context()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	b := redisclient.NewBatch(c, 1)
	var incr *redis.IntCmd
	var do *redis.Cmd
	var hash *redis.MapStringStringCmd
	_, err := b.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, prefix+"n")
		do = p.Do(ctx, "GET", prefix+"n")
		hash = p.HGetAll(ctx, prefix+"h")
		return nil
	})
	if incr.Val() != 1 || do.Val() != "1" {
		t.Errorf("INCR = %d, GET via Do = %v; want 1, \"1\"", incr.Val(), do.Val())
	}
	if hash.Err() == nil || !strings.Contains(hash.Err().Error(), "not supported in a batched transaction") || err == nil {
		t.Errorf("HGETALL in a batched transaction: %v (pipeline error %v), want a clear refusal", hash.Err(), err)
	}
}

// TestBatchLater: commands queued with Later go out with the caller's next call, in
// one round trip; wait alone sends them when nothing else did.
func TestBatchLater(t *testing.T) {
	ctx := t.Context()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	b := redisclient.NewBatch(c, 1)

	var early *redis.StringCmd
	wait := b.Later(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, prefix+"early", "e", time.Minute)
		early = p.Get(ctx, prefix+"early")
		return nil
	})
	if n := c.Exists(ctx, prefix+"early").Val(); n != 0 {
		t.Fatal("Later sent its commands before any call")
	}
	if _, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, prefix+"now", "n", time.Minute); return nil }); err != nil {
		t.Fatal(err)
	}
	if calls, trips := b.Trips(); calls != 2 || trips != 1 {
		t.Errorf("Later then Pipelined: %d calls in %d round trips, want 2 in 1", calls, trips)
	}
	if cmds, err := wait(); err != nil || len(cmds) != 2 || early.Val() != "e" {
		t.Errorf("wait after the shared trip: %d commands, %v, GET %q", len(cmds), err, early.Val())
	}

	alone := b.Later(ctx, func(p redis.Pipeliner) error { p.Set(ctx, prefix+"alone", "a", time.Minute); return nil })
	if _, err := alone(); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, prefix+"alone").Val(); v != "a" {
		t.Errorf("wait with nothing else sent: the SET did not land (%q)", v)
	}
}

// TestBatchLaterNeverLeads: a round trip that comes back hands the lead only to a
// caller that waits: a job queued with Later, whose owner is busy with its next call
// queued behind it, must not be handed the lead (its owner would never take it, and
// both calls would wait forever).
func TestBatchLaterNeverLeads(t *testing.T) {
	ctx := t.Context()
	hb := newHeldBatch(t)
	c, g, prefix, b, held := hb.c, hb.g, hb.prefix, hb.b, hb.held
	done := make(chan error, 1)
	go func() {
		wait := b.Later(ctx, func(p redis.Pipeliner) error { p.Set(ctx, prefix+"later", "1", time.Minute); return nil })
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, prefix+"now", "1", time.Minute); return nil })
		if _, werr := wait(); err == nil {
			err = werr
		}
		done <- err
	}()
	untilQueued(t, b, 2)
	g.release()
	answeredWithin(t, done, "Later then Pipelined behind a held round trip: still waiting after 10 s (the lead went to the Later job)")
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"later", "now"} {
		if v := c.Get(ctx, prefix+k).Val(); v != "1" {
			t.Errorf("%s not written", k)
		}
	}
}

// TestBatchPatient: a Patient call waits for company: another caller's round trip
// carries it, or, when none comes within its patience, it sends its own. Handed the
// lead while it waits (a trip on its way came back), it sends at once.
func TestBatchPatient(t *testing.T) {
	set := func(ctx context.Context, b *redisclient.Batch, key string) error {
		_, err := b.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, key, "1", time.Minute); return nil })
		return err
	}
	t.Run("carried by the next trip", func(t *testing.T) {
		ctx := t.Context()
		c := redistest.Client(t)
		prefix := redistest.Prefix(t, c)
		b := redisclient.NewBatch(c, 1)
		redisclient.SetPatience(b, time.Hour)
		done := make(chan error, 1)
		go func() { done <- set(redisclient.Patient(ctx), b, prefix+"patient") }()
		untilQueued(t, b, 1)
		if calls, trips := b.Trips(); calls != 0 || trips != 0 {
			t.Fatalf("the patient call was sent alone: %d calls in %d trips", calls, trips)
		}
		if err := set(ctx, b, prefix+"now"); err != nil {
			t.Fatal(err)
		}
		answeredWithin(t, done, "the patient call carried by another trip still waits after 10 s")
		if calls, trips := b.Trips(); calls != 2 || trips != 1 {
			t.Errorf("%d calls in %d round trips, want 2 in 1", calls, trips)
		}
		for _, k := range []string{"patient", "now"} {
			if v := c.Get(ctx, prefix+k).Val(); v != "1" {
				t.Errorf("%s not written", k)
			}
		}
	})
	t.Run("alone", func(t *testing.T) {
		ctx := t.Context()
		c := redistest.Client(t)
		prefix := redistest.Prefix(t, c)
		b := redisclient.NewBatch(c, 1) // the default patience
		if err := set(redisclient.Patient(ctx), b, prefix+"alone"); err != nil {
			t.Fatal(err)
		}
		if v := c.Get(ctx, prefix+"alone").Val(); v != "1" {
			t.Errorf("not written: %q", v)
		}
		if calls, trips := b.Trips(); calls != 1 || trips != 1 {
			t.Errorf("%d calls in %d round trips, want 1 in 1", calls, trips)
		}
	})
	t.Run("handed the lead", func(t *testing.T) {
		ctx := t.Context()
		hb := newHeldBatch(t)
		redisclient.SetPatience(hb.b, time.Hour)
		done := make(chan error, 1)
		go func() { done <- set(redisclient.Patient(ctx), hb.b, hb.prefix+"patient") }()
		untilQueued(t, hb.b, 1)
		hb.g.release()
		answeredWithin(t, done, "a patient call handed the lead still waits after 10 s (for its hour of patience)")
		if err := <-hb.held; err != nil {
			t.Fatal(err)
		}
		if v := hb.c.Get(ctx, hb.prefix+"patient").Val(); v != "1" {
			t.Errorf("not written: %q", v)
		}
	})
}

// answeredWithin fails t with stuck unless done delivers within 10 s, and with the
// error it delivers unless that is nil.
func answeredWithin(t *testing.T, done <-chan error, stuck string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(stuck)
	}
}
