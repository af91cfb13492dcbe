package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// benchRunFlood is `go run ./test/bench flood` (docs/security.md): the real creditgate
// under -conns connections that each announce -announce bytes and then send one byte
// per -drip, reconnecting whenever creditgate cuts them off, while signed webhooks go
// to the same listener at -rate a second. It reports creditgate's peak RSS (VmHWM),
// the connections held, the answers to the genuine webhooks and the lines logged, and
// fails when the peak passes -max-rss or a genuine webhook is not answered 2xx.
func benchRunFlood(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("conns", 2000, "slow connections held open at once")
	announce := fs.Int64("announce", 1<<20, "Content-Length each slow connection announces")
	drip := fs.Duration("drip", time.Second, "pause between the bytes of a slow body")
	duration := fs.Duration("duration", 30*time.Second, "length of the flood")
	rate := fs.Int("rate", 20, "genuine signed webhooks a second during the flood")
	maxRSS := fs.Int64("max-rss", 64<<20, "fail when creditgate's peak RSS reaches this")
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis address (a private key prefix is used and deleted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *duration <= 0 || *rate < 1 || *drip <= 0 {
		return errors.New("flags out of range: conns, duration, rate and drip must be positive")
	}
	b := &bench{o: benchOptions{redisAddr: *redisAddr, plainBuild: true}, out: stdout, errOut: stderr}
	defer b.cleanup()
	if err := b.setupFlood(ctx); err != nil {
		return err
	}
	s := b.cg
	host := s.url[len("http://"):]
	host = host[:len(host)-len("/stripe/webhook")]

	fctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var held, peakHeld, dials atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchSlowClient(fctx, host, *announce, *drip, &held, &peakHeld, &dials)
		}()
	}
	b.logf("flood: %d connections announcing %d bytes, one byte per %s, for %s; %d genuine webhooks/s", *conns, *announce, *drip, *duration, *rate)
	lines0 := s.log.count()
	events := benchGenerate(*rate*int(duration.Seconds()+1), b.run0+"fl", b.secret)
	load := benchOpenLoop(fctx, s.url, events, float64(*rate), 8, *duration)
	<-fctx.Done()
	wg.Wait()
	_, peak, err := benchMem(s.pid())
	if err != nil {
		return fmt.Errorf("creditgate died: %v\n%s", err, s.log.lastLines(20))
	}
	lines := s.log.count() - lines0
	fmt.Fprintf(stdout, "flood of %s: %d slow connections announcing %d bytes (one byte per %s)\n", *duration, *conns, *announce, *drip)
	fmt.Fprintf(stdout, "  creditgate peak RSS (VmHWM): %s (idle before: %s; limit %s)\n", mb(peak), mb(s.idleRSS), mb(*maxRSS))
	fmt.Fprintf(stdout, "  slow connections held at once: %d at most; %d dialled in all\n", peakHeld.Load(), dials.Load())
	fmt.Fprintf(stdout, "  genuine webhooks: %d sent, answers %s, p99 %s\n", load.Sent, answers(load), ms(load.pct(0.99)))
	fmt.Fprintf(stdout, "  lines logged: %d (%.1f a second)\n", lines, float64(lines)/duration.Seconds())
	var problems []error
	if peak >= *maxRSS {
		problems = append(problems, fmt.Errorf("peak RSS %s reached the limit %s", mb(peak), mb(*maxRSS)))
	}
	if load.Sent == 0 || load.non2xx() > 0 {
		problems = append(problems, fmt.Errorf("%d of %d genuine webhooks not answered 2xx (first: %s)", load.non2xx(), load.Sent, load.FirstErr))
	}
	return errors.Join(problems...)
}

// setupFlood builds and starts creditgate with the bench's config and sink.
func (b *bench) setupFlood(ctx context.Context) error {
	if err := b.prepare(ctx, "flood"); err != nil {
		return err
	}
	b.binary = filepath.Join(b.dir, "creditgate")
	b.logf("building creditgate in %s", b.dir)
	if err := benchGoBuild(ctx, b.root, "./cmd/creditgate", b.binary, true); err != nil {
		return err
	}
	var err error
	if b.sink, err = benchStartSink(b.key); err != nil {
		return err
	}
	b.cg, err = b.startCreditgate("creditgate", b.binary, "")
	return err
}

// benchSlowClient keeps one slow body open against host until ctx ends: it announces
// announce bytes, sends one byte per drip, and dials again when creditgate cuts the
// connection (its read timeout) or answers.
func benchSlowClient(ctx context.Context, host string, announce int64, drip time.Duration, held, peak, dials *atomic.Int64) {
	d := net.Dialer{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			benchSleep(ctx, drip)
			continue
		}
		dials.Add(1)
		n := held.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		_, err = fmt.Fprintf(c, "POST /stripe/webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n", host, announce)
		for err == nil && ctx.Err() == nil {
			benchSleep(ctx, drip)
			_, err = c.Write([]byte("{"))
		}
		held.Add(-1)
		_ = c.Close()
	}
}

func benchSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
