package redisclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pipes runs pipelines: a go-redis client itself, or a Batch in front of one.
type Pipes interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	TxPipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

var (
	_ Pipes = (redis.UniversalClient)(nil)
	_ Pipes = (*Batch)(nil)
)

// Batch sends the pipelines of concurrent callers to Redis together: one write and one
// read for many webhooks, instead of one of each per webhook. On a 2-core machine the
// write of a round trip is the largest single cost of the hot path (the kernel does the
// loopback delivery inside it), for creditgate and for Redis alike.
//
// It never waits for company (but for a Patient call): a caller that finds fewer than
// Flushes batches on their way sends its own at once, alone if need be; callers that
// arrive while Flushes are on their way queue, and the first of them sends everything
// queued when one comes back (it is handed the lead; no goroutine of its own, no timer).
// So an idle server pays no latency for it, and a busy one sends as many webhooks per
// round trip as arrived during the last one.
//
// Each caller gets exactly its own commands back with their own answers and errors, as
// from the client's Pipelined; a transaction (TxPipelined) stays one MULTI/EXEC, all or
// nothing, inside the shared pipeline. A connection failure fails every command of the
// batch, as it would have failed each caller's own round trip. What is shared is only
// the trip: no caller's commands wait behind another's answer.
//
// Once sent, a caller waits for its answer even if its context ends: its commands are
// on the wire, and the client's read and write timeouts bound the wait. A caller whose
// context has ended before its batch is sent is answered with the context's error and
// nothing is sent for it.
//
// On Redis Cluster (a *redis.ClusterClient) Batch passes every call straight to the
// client: a MULTI/EXEC must stay on one node, and go-redis splits pipelines by node
// anyway.
type Batch struct {
	c        redis.UniversalClient
	flushes  int
	cluster  bool
	patience time.Duration // how long a Patient call waits for company

	mu     sync.Mutex
	queue  []*batchJob
	active int // callers sending a batch, at most flushes

	sent, trips atomic.Int64 // calls sent, round trips they took
	collect     sync.Pool    // pipelines that collect a call's commands (never executed)
}

// maxBatchCmds bounds the commands of one round trip; the rest go in the next.
const maxBatchCmds = 512

// NewBatch returns a Batch in front of c with at most flushes round trips on their way
// at once (at least 1).
func NewBatch(c redis.UniversalClient, flushes int) *Batch {
	_, cluster := c.(*redis.ClusterClient)
	b := &Batch{c: c, flushes: max(1, flushes), cluster: cluster, patience: patience}
	b.collect.New = func() any { return c.Pipeline() }
	return b
}

// Pipelined queues fn's commands and sends them with whatever other callers queued,
// then returns them and the first error among them, as redis.Client.Pipelined does.
func (b *Batch) Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	if b.cluster {
		return b.c.Pipelined(ctx, fn)
	}
	return b.do(ctx, false, fn)
}

// TxPipelined is Pipelined with fn's commands wrapped in MULTI/EXEC, as
// redis.Client.TxPipelined does. The commands may be of the types *redis.Cmd,
// *redis.StatusCmd, *redis.BoolCmd, *redis.IntCmd and *redis.StringCmd (SET, SET NX,
// GET, DEL and the like); any other answers with an error.
func (b *Batch) TxPipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	if b.cluster {
		return b.c.TxPipelined(ctx, fn)
	}
	return b.do(ctx, true, fn)
}

// Trips reports how many calls were sent and in how many round trips.
func (b *Batch) Trips() (calls, trips int64) { return b.sent.Load(), b.trips.Load() }

type batchJob struct {
	ctx     context.Context
	cmds    []redis.Cmder
	tx      bool
	patient bool      // its context is Patient
	queued  bool      // in Batch.queue, not taken yet (guarded by Batch.mu)
	waiting bool      // its caller waits for it: may be handed the lead (guarded by Batch.mu)
	leading bool      // handed the lead, or took it (guarded by Batch.mu)
	wake    chan bool // true: send a batch; false: answered (each at most once)
}

var jobPool = sync.Pool{New: func() any { return &batchJob{wake: make(chan bool, 2)} }}

// Later queues fn's commands as Pipelined does but returns at once; wait returns them
// with their answers. They go out with the next round trip any caller sends, at the
// latest with wait's own: a caller that queues what it will need later, then makes a
// call it needs now, gets both in one round trip. Call wait exactly once.
func (b *Batch) Later(ctx context.Context, fn func(redis.Pipeliner) error) (wait func() ([]redis.Cmder, error)) {
	if b.cluster {
		return func() ([]redis.Cmder, error) { return b.c.Pipelined(ctx, fn) }
	}
	j, cmds, err := b.enqueue(ctx, false, fn)
	return func() ([]redis.Cmder, error) {
		if j == nil {
			return cmds, err
		}
		return b.wait(j)
	}
}

func (b *Batch) do(ctx context.Context, tx bool, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	j, cmds, err := b.enqueue(ctx, tx, fn)
	if j == nil {
		return cmds, err
	}
	return b.wait(j)
}

// enqueue collects fn's commands and queues them; a nil job means there is nothing to
// send (fn failed or queued nothing) and cmds, err are the answer.
func (b *Batch) enqueue(ctx context.Context, tx bool, fn func(redis.Pipeliner) error) (*batchJob, []redis.Cmder, error) {
	p := b.collect.Get().(redis.Pipeliner)
	err := fn(p)
	cmds := slices.Clone(p.Cmds())
	p.Discard()
	b.collect.Put(p)
	if err != nil {
		return nil, nil, err
	}
	if len(cmds) == 0 {
		return nil, nil, nil
	}
	j := jobPool.Get().(*batchJob)
	j.ctx, j.cmds, j.tx, j.queued, j.waiting, j.leading = ctx, cmds, tx, true, false, false
	j.patient = ctx.Value(patientKey{}) != nil
	b.mu.Lock()
	b.queue = append(b.queue, j)
	b.mu.Unlock()
	return j, cmds, nil
}

// wait sends j's batch itself when j is still queued and a place is free, else waits
// for whoever sends it; it returns j's commands once answered.
func (b *Batch) wait(j *batchJob) ([]redis.Cmder, error) {
	b.mu.Lock()
	j.waiting = true
	lead := !j.patient && b.takeLead(j)
	// A Patient job waits for company. A round trip on its way hands the lead on when
	// it comes back, to j or to a caller queued before it, whose trip takes j along; only
	// a job that finds none needs company's timer.
	alone := j.patient && b.active == 0
	b.mu.Unlock()
	if alone {
		lead = b.company(j)
	}
	if lead {
		b.lead()
	}
	for <-j.wake { // handed the lead: send what is queued, then wait for the answer
		b.lead()
	}
	cmds := j.cmds
	j.ctx, j.cmds = nil, nil
	jobPool.Put(j)
	return cmds, firstErr(cmds)
}

// takeLead makes j the sender of the next batch when j is still queued and a place is
// free (b.mu held).
func (b *Batch) takeLead(j *batchJob) bool {
	if !j.queued || j.leading || b.active >= b.flushes {
		return false
	}
	b.active++
	j.leading = true
	return true
}

// company gives a Patient job that found no round trip on its way up to patience to be
// carried by another caller's, then reports whether it must send its own. A wake that
// comes meanwhile (the job was answered, or handed the lead) is put back for wait's
// loop to take.
func (b *Batch) company(j *batchJob) bool {
	t := time.NewTimer(b.patience)
	defer t.Stop()
	select {
	case w := <-j.wake:
		j.wake <- w
		return false
	case <-t.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeLead(j)
}

// Patient marks the calls made with ctx as able to wait for company: when no other
// caller's round trip carries them within patience, they send their own. For writes
// no one waits for (pipeline.Pipeline's settlements after the answer): alone, each
// would take a round trip of its own, a write and a read for creditgate and for Redis.
func Patient(ctx context.Context) context.Context { return context.WithValue(ctx, patientKey{}, true) }

type patientKey struct{}

// patience is how long a Patient call waits for another caller's round trip: under
// load one comes within a fraction of it, and idle, a settlement is written that much
// later (its keys stay in flight meanwhile).
const patience = time.Millisecond

// lead sends what is queued (up to maxBatchCmds), answers it, then hands the lead to the
// first caller still queued that waits for its answer, or gives up its place. (A job
// queued with Later is never handed the lead: its caller may be busy with a call queued
// behind it, and would not take it. Its wait, or any other caller, sends it.)
func (b *Batch) lead() {
	b.mu.Lock()
	var batch []*batchJob
	n := 0
	for len(b.queue) > 0 && (n == 0 || n+len(b.queue[0].cmds) <= maxBatchCmds) {
		n += len(b.queue[0].cmds)
		b.queue[0].queued = false
		batch = append(batch, b.queue[0])
		b.queue[0] = nil
		b.queue = b.queue[1:]
	}
	if len(b.queue) == 0 {
		b.queue = b.queue[:0:0] // let the backing array go; the next append starts small
	}
	b.mu.Unlock()

	if len(batch) > 0 {
		b.send(batch)
		for _, j := range batch {
			j.wake <- false
		}
	}

	b.mu.Lock()
	handed := false
	for _, j := range b.queue {
		if j.waiting && !j.leading {
			j.leading, handed = true, true
			j.wake <- true
			break
		}
	}
	if !handed {
		b.active--
	}
	b.mu.Unlock()
}

// send writes batch in one pipeline and gives every command its answer.
func (b *Batch) send(batch []*batchJob) {
	// The batch's own context: the callers' deadlines differ and one caller's end must
	// not fail the others; the client's read and write timeouts bound the trip.
	ctx := context.Background()
	p := b.c.Pipeline()
	txs := make([]txCmds, 0, 2)
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			setErr(j.cmds, err) // never sent
			continue
		}
		b.sent.Add(1)
		if !j.tx {
			_ = p.BatchProcess(ctx, j.cmds...)
			continue
		}
		t := txCmds{inner: j.cmds, multi: redis.NewStatusCmd(ctx, "multi"), exec: redis.NewCmd(ctx, "exec")}
		_ = p.Process(ctx, t.multi)
		for _, c := range j.cmds {
			q := redis.NewStatusCmd(ctx, c.Args()...)
			t.queued = append(t.queued, q)
			_ = p.Process(ctx, q)
		}
		_ = p.Process(ctx, t.exec)
		txs = append(txs, t)
	}
	if p.Len() == 0 {
		return
	}
	b.trips.Add(1)
	_, _ = p.Exec(ctx) // every command carries its own error
	for _, t := range txs {
		t.answer()
	}
}

// txCmds is one transaction inside a shared pipeline: MULTI, each command (answered
// QUEUED, or an error that aborts the transaction), EXEC with every command's answer.
type txCmds struct {
	inner  []redis.Cmder
	multi  *redis.StatusCmd
	queued []*redis.StatusCmd
	exec   *redis.Cmd
}

func (t txCmds) answer() {
	if err := t.multi.Err(); err != nil {
		setErr(t.inner, err)
		return
	}
	for i, q := range t.queued {
		if err := q.Err(); err != nil {
			t.inner[i].SetErr(err) // refused when queued: EXEC aborts the transaction
		}
	}
	vals, ok := t.exec.Val().([]any)
	switch err := t.exec.Err(); {
	case err != nil:
		for _, c := range t.inner {
			if c.Err() == nil {
				c.SetErr(err)
			}
		}
		return
	case !ok || len(vals) != len(t.inner):
		setErr(t.inner, fmt.Errorf("redis: EXEC answered %T with %d values for %d commands", t.exec.Val(), len(vals), len(t.inner)))
		return
	}
	for i, c := range t.inner {
		setAnswer(c, vals[i])
	}
}

// setAnswer gives c the value v that EXEC answered for it.
func setAnswer(c redis.Cmder, v any) {
	if err, ok := v.(error); ok {
		c.SetErr(err)
		return
	}
	switch c := c.(type) {
	case *redis.Cmd:
		if v == nil {
			c.SetErr(redis.Nil)
			return
		}
		c.SetVal(v)
	case stringCmd: // *redis.StatusCmd, *redis.StringCmd
		s, ok := v.(string)
		switch {
		case v == nil:
			c.SetErr(redis.Nil)
		case !ok:
			c.SetErr(fmt.Errorf("redis: %s answered %T, want a string", c.Name(), v))
		default:
			c.SetVal(s)
		}
	case *redis.BoolCmd: // SET NX answers OK or nil; SETNX, EXPIRE and the like 1 or 0
		switch v := v.(type) {
		case nil:
			c.SetVal(false)
		case string:
			c.SetVal(v == "OK")
		case int64:
			c.SetVal(v == 1)
		default:
			c.SetErr(fmt.Errorf("redis: %s answered %T, want a bool", c.Name(), v))
		}
	case *redis.IntCmd:
		n, ok := v.(int64)
		if !ok {
			c.SetErr(fmt.Errorf("redis: %s answered %T, want an integer", c.Name(), v))
			return
		}
		c.SetVal(n)
	default:
		c.SetErr(fmt.Errorf("redisclient: %s (%T) is not supported in a batched transaction", c.Name(), c))
	}
}

// stringCmd is a command whose answer is a string: a status (SET) or a bulk string (GET).
type stringCmd interface {
	redis.Cmder
	SetVal(string)
}

func setErr(cmds []redis.Cmder, err error) {
	for _, c := range cmds {
		c.SetErr(err)
	}
}

// firstErr is the first command error, as the client's Pipelined returns it (redis.Nil
// included).
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
