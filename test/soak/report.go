package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// dlqEntry is the part of a dead-letter entry (a value of the hash
// <prefix>deadletter) the soak needs.
type dlqEntry struct {
	ID      string `json:"id"`
	Route   string `json:"route"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
}

// results is everything the final table is made of.
type results struct {
	opts    options
	sim     *sim
	faults  []faultEntry
	drained bool

	buildTime, deliveryTime, wall time.Duration

	ps      []*purchase
	ledger  map[string][]application
	bstats  backendStats
	bsample []string
	dlq     []dlqEntry

	processing      int // claims still processing at the end (healing by lease)
	stuck           []string
	doneKeys        int
	replicaProblems []string // crashes and panics
	logNotes        []string // error-level lines other than the canonical one, by message
	apiUnknown      []string // Stripe API requests the soak's API could not answer
}

// collect reads the ledger, the dead-letter list, the claims left in Redis and the
// replicas' logs.
func collect(ctx context.Context, redisAddr string, ps []*purchase, be *backend, replicas []*proc, rp *proc) (*results, error) {
	rs := &results{ps: ps}
	rs.ledger, rs.bstats, rs.bsample = be.snapshot()

	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	all, err := c.HGetAll(ctx, keyPrefix+"deadletter").Result()
	if err != nil {
		return nil, fmt.Errorf("reading the dead-letter list: %w", err)
	}
	for id, v := range all {
		var e dlqEntry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			e = dlqEntry{ID: id, Reason: "undecodable: " + err.Error()}
		}
		rs.dlq = append(rs.dlq, e)
	}
	iter := c.Scan(ctx, 0, keyPrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if k == keyPrefix+"deadletter" || strings.HasPrefix(k, keyPrefix+"deadletter:") || strings.HasPrefix(k, keyPrefix+"customer:") {
			continue
		}
		v, err := c.Get(ctx, k).Result()
		if err != nil {
			continue // expired meanwhile
		}
		switch {
		case v == "done":
			rs.doneKeys++
		case strings.HasPrefix(v, "processing:"):
			ttl, _ := c.PTTL(ctx, k).Result()
			if ttl < 0 {
				rs.stuck = append(rs.stuck, fmt.Sprintf("%s has no expiry", strings.TrimPrefix(k, keyPrefix)))
			} else {
				rs.processing++
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scanning Redis: %w", err)
	}

	for _, p := range append([]*proc{rp}, replicas...) {
		rs.replicaProblems = append(rs.replicaProblems, p.crashList()...)
	}
	for _, p := range replicas {
		panics, notes := scanLog(p.logPath)
		for _, l := range panics {
			rs.replicaProblems = append(rs.replicaProblems, p.name+": "+l)
		}
		for _, n := range notes {
			rs.logNotes = append(rs.logNotes, p.name+": "+n)
		}
	}
	return rs, nil
}

// scanLog finds panics, counts the error- and warn-level lines of a replica's log that
// are not the canonical webhook line, by message, and the 503 answers by cause.
func scanLog(path string) (panics []string, notes []string) {
	f, err := os.Open(path)
	if err != nil {
		return []string{"log unreadable: " + err.Error()}, nil
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "DATA RACE") {
			panics = append(panics, line)
			continue
		}
		var m struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Result string `json:"result"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m.Msg == "webhook" {
			if m.Result == "store_unavailable" || m.Result == "backend_unavailable" {
				counts["answered "+m.Result+", cause: "+cause(m.Detail)]++
			}
			continue
		}
		if m.Level == "ERROR" || m.Level == "WARN" {
			counts[m.Level+" "+m.Msg]++
		}
	}
	for k, n := range counts {
		notes = append(notes, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(notes)
	return panics, notes
}

// cause names what a 503's detail says went wrong.
func cause(detail string) string {
	for _, c := range []string{"context canceled", "connection refused", "i/o timeout", "timeout after", "connection reset", "EOF", "LOADING", "retry budget", "HTTP 5", "HTTP 429"} {
		if strings.Contains(detail, c) {
			return c
		}
	}
	return "other"
}

// print writes the tables and returns violations when an invariant does not hold.
func (rs *results) print(out io.Writer) error {
	s := rs.sim
	byEvent := map[string]*simEvent{}
	kinds := make([]int, numKinds)
	direct := 0
	for _, p := range rs.ps {
		kinds[p.kind]++
		if p.route == directSimRoute {
			direct++
		}
		for _, e := range p.events {
			byEvent[e.id] = e
		}
	}

	// Dead letters: expected are the purchases without a user id, for no_user_id.
	inDLQ := map[string]bool{} // session → parked
	var dlqExpected, dlqUnexpected int
	var dlqBad []string
	for _, d := range rs.dlq {
		e := byEvent[d.EventID]
		if e != nil {
			inDLQ[e.p.session] = true
		}
		if e != nil && e.p.kind == kindNoUser && d.Reason == "no_user_id" && d.Route == e.p.route.name {
			dlqExpected++
			continue
		}
		dlqUnexpected++
		if len(dlqBad) < 10 {
			what := "unknown event"
			if e != nil {
				what = e.typ + " of a '" + e.p.kind.String() + "' purchase " + e.p.session
			}
			dlqBad = append(dlqBad, fmt.Sprintf("%s reason=%s (%s)", d.ID, d.Reason, what))
		}
	}

	var (
		shouldCredit, once, twice, wrongCredit, creditedNot int
		lostAcked, lostUnacked, noUserLost                  int
		unackedEvents                                       int
		problems                                            []string
	)
	note := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for _, p := range rs.ps {
		apps := rs.ledger[p.creditID()]
		if p.altID != "" {
			apps = append(apps[:len(apps):len(apps)], rs.ledger[p.altID]...)
		}
		allAcked := true
		for _, e := range p.events {
			if !e.acked.Load() {
				allAcked = false
				unackedEvents++
				e.mu.Lock()
				note("UNACKNOWLEDGED at the deadline: %s %s of a '%s' purchase %s; last attempts: %s", e.id, e.typ, p.kind, p.session, strings.Join(e.history, " | "))
				e.mu.Unlock()
			}
		}
		switch {
		case p.kind.shouldCredit():
			shouldCredit++
			switch {
			case len(apps) == 0 && inDLQ[p.session]:
				// counted as an unexpected dead letter
			case len(apps) == 0 && allAcked:
				lostAcked++
				note("LOST (acknowledged): %s purchase %s, events %s", p.kind, p.session, eventIDs(p))
			case len(apps) == 0:
				lostUnacked++
				note("LOST (still unacknowledged at the deadline): %s purchase %s, events %s", p.kind, p.session, eventIDs(p))
			case len(apps) > 1:
				twice++
				note("CREDITED %d TIMES: %s purchase %s: %s", len(apps), p.kind, p.session, appList(apps))
			case apps[0].userID != p.creditedUser() || apps[0].credits != p.credits:
				wrongCredit++
				note("WRONG CREDIT: %s purchase %s: got user %s credits %d, want %s %d", p.kind, p.session, apps[0].userID, apps[0].credits, p.creditedUser(), p.credits)
			default:
				once++
			}
		default:
			if len(apps) > 0 {
				creditedNot++
				note("CREDITED BUT MUST NOT BE: %s purchase %s: %s", p.kind, p.session, appList(apps))
			}
			if p.kind == kindNoUser && !inDLQ[p.session] {
				noUserLost++
				note("LOST: %s purchase %s neither credited nor dead-lettered (acknowledged: %t)", p.kind, p.session, allAcked)
			}
		}
	}
	lost := lostAcked + lostUnacked + noUserLost

	// Reversals: the backend's net for each purchase whose money moved.
	netBySession := map[string]int64{}
	for _, apps := range rs.ledger {
		for _, a := range apps {
			if a.sessionID != "" {
				netBySession[a.sessionID] += a.credits
			}
		}
	}
	var reversing, reversedRight, reversalLost, reversalDoubled int
	for _, p := range rs.ps {
		if !p.kind.reverses() {
			continue
		}
		reversing++
		switch got := netBySession[p.session]; {
		case got == p.net:
			reversedRight++
		case got > p.net:
			reversalLost++
			note("REVERSAL LOST: %s purchase %s: backend holds %d, want %d; events %s", p.kind, p.session, got, p.net, eventIDs(p))
		default:
			reversalDoubled++
			note("WRONGLY REVERSED: %s purchase %s: backend holds %d, want %d; events %s", p.kind, p.session, got, p.net, eventIDs(p))
		}
	}

	var crashes []string
	crashes = append(crashes, rs.replicaProblems...)

	// The table.
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	rule := func(title string) { fmt.Fprintf(tw, "\t\n%s\t\n", title) }
	fmt.Fprintf(out, "\ncreditgate soak: seed %d, %d purchases, 2 replicas, concurrency %d, traffic window %s\n",
		rs.opts.seed, len(rs.ps), rs.opts.concurrency, rs.opts.traffic)
	fmt.Fprintf(out, "wall time %s (build %s, deliveries %s)\n\n", rs.wall.Round(100*time.Millisecond), rs.buildTime.Round(100*time.Millisecond), rs.deliveryTime.Round(100*time.Millisecond))

	fmt.Fprintf(tw, "INVARIANT\tVALUE\n")
	row("purchases sent", len(rs.ps))
	for k := kind(0); k < numKinds; k++ {
		row("  "+k.String(), kinds[k])
	}
	row("  of them on the route answered before its settlement ("+directRoute+")", direct)
	row("paid with a user id (must be credited once)", shouldCredit)
	row("credited exactly once", once)
	row("credited twice (backend applied > 1)", mark(twice))
	row("repeat forwards caught by Idempotency-Key (409)", rs.bstats.conflicts)
	row("lost (never credited, not dead-lettered)", mark(lost))
	if lost > 0 {
		row("  acknowledged 2xx, then dropped", lostAcked)
		row("  still unacknowledged at the deadline", lostUnacked)
		row("  no-user purchase not dead-lettered", noUserLost)
	}
	row("wrong user or amount credited", mark(wrongCredit))
	row("purchases whose money moved (refunds, failed refunds, inquiries, chargebacks)", reversing)
	row("  backend holds what the money stands for", reversedRight)
	row("  reversals lost (backend holds more)", mark(reversalLost))
	row("  doubled or wrongly reversed (backend holds less)", mark(reversalDoubled))
	row("credited although unpaid or without user", mark(creditedNot))
	row("parked in dead-letter list: expected (no_user_id)", fmt.Sprintf("%d of %d", dlqExpected, kinds[kindNoUser]))
	row("parked in dead-letter list: unexpected", mark(dlqUnexpected))
	row("wrong answers to the simulator", mark(s.nWrong))
	row("events unacknowledged at the deadline", mark(unackedEvents))
	row("process crashes / panics", mark(len(crashes)))
	row("claims stuck (processing, no expiry)", mark(len(rs.stuck)))
	row("claims still processing at the end (healing by lease)", rs.processing)
	row("done markers in Redis", rs.doneKeys)
	row("bad signatures / bad requests at the backend", mark(rs.bstats.badSig+rs.bstats.badRequest))

	lat := append([]time.Duration(nil), s.latencies...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	rule("ANSWER TIME TO THE SIMULATOR")
	row("answers", len(lat))
	row("p50", pct(lat, 0.50))
	row("p90", pct(lat, 0.90))
	row("p99", pct(lat, 0.99))
	row("max", pct(lat, 1))

	rule("DELIVERIES BY ANSWER")
	row("delivery attempts", s.attempts)
	keys := make([]string, 0, len(s.byAnswer))
	for k := range s.byAnswer {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("  "+k, s.byAnswer[k])
	}

	rule("BACKEND")
	b := rs.bstats
	row("requests", b.requests)
	row("credits applied", b.applied)
	row("  applied after a slow wait (caller gone)", b.lateApplied)
	row("answered 409 (already credited)", b.conflicts)
	row("  same event as the credit (a retried delivery)", b.conflictsSameEvent)
	row("  another event of the session", b.conflicts-b.conflictsSameEvent)
	row("  caller had already hung up", b.conflictsGone)
	row("injected 5xx / 429", b.failed)
	row("injected connection resets", b.resets)
	row("answers slower than forward.timeout", b.slow)
	row("full outages", b.outages)
	tw.Flush()

	fmt.Fprintf(out, "\nFAULTS INJECTED (time after the start of traffic)\n")
	for _, f := range rs.faults {
		fmt.Fprintf(out, "  %6.1fs  %s: %s\n", f.at.Seconds(), f.name, f.detail)
	}
	fmt.Fprintf(out, "  always   backend baseline: %.1f%% 5xx, %.1f%% resets, %.1f%% slow answers\n", baseline.fail*100, baseline.reset*100, baseline.slow*100)
	if rs.opts.timeline {
		rs.printTimeline(out)
	}
	if len(rs.logNotes) > 0 {
		fmt.Fprintf(out, "\nREPLICA LOGS: 503 ANSWERS BY CAUSE, AND WARN/ERROR LINES OTHER THAN THE PER-WEBHOOK ONE\n")
		for _, n := range rs.logNotes {
			fmt.Fprintf(out, "  %s\n", n)
		}
	}

	var v violations
	add := func(cond bool, format string, args ...any) {
		if cond {
			v = append(v, fmt.Sprintf(format, args...))
		}
	}
	add(lost > 0, "%d purchases lost", lost)
	add(twice > 0, "%d purchases credited twice", twice)
	add(wrongCredit > 0, "%d credits with the wrong user or amount", wrongCredit)
	add(reversalLost > 0, "%d reversals lost", reversalLost)
	add(reversalDoubled > 0, "%d purchases doubled or wrongly reversed", reversalDoubled)
	add(creditedNot > 0, "%d purchases credited that must not be", creditedNot)
	add(dlqUnexpected > 0, "%d unexpected dead letters", dlqUnexpected)
	add(dlqExpected != kinds[kindNoUser], "%d of %d no-user purchases dead-lettered", dlqExpected, kinds[kindNoUser])
	add(s.nWrong > 0, "%d wrong answers", s.nWrong)
	add(unackedEvents > 0, "%d events never acknowledged", unackedEvents)
	add(len(crashes) > 0, "%d crashes", len(crashes))
	add(len(rs.stuck) > 0, "%d stuck claims", len(rs.stuck))
	add(b.badSig+b.badRequest > 0, "%d bad requests at the backend", b.badSig+b.badRequest)
	add(!rs.drained, "backend handlers still running 10s after the last delivery")
	add(len(rs.apiUnknown) > 0, "%d Stripe API requests not understood (%s)", len(rs.apiUnknown), strings.Join(rs.apiUnknown, ", "))

	if len(v) > 0 || len(problems) > 0 {
		fmt.Fprintf(out, "\nDETAILS\n")
		for _, p := range problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
		for _, d := range dlqBad {
			fmt.Fprintf(out, "  unexpected dead letter: %s\n", d)
		}
		for _, w := range s.wrong {
			fmt.Fprintf(out, "  wrong answer: %s\n", w)
		}
		for _, c := range crashes {
			fmt.Fprintf(out, "  crash: %s\n", c)
		}
		for _, c := range rs.stuck {
			fmt.Fprintf(out, "  stuck claim: %s\n", c)
		}
		for _, c := range rs.bsample {
			fmt.Fprintf(out, "  backend: %s\n", c)
		}
	}
	if len(v) > 0 {
		fmt.Fprintf(out, "\nRESULT: FAIL\n")
		return v
	}
	fmt.Fprintf(out, "\nRESULT: PASS (nothing lost, nothing doubled, nothing wrongly reversed)\n")
	return nil
}

// printTimeline writes one line per second of the run: the simulator's attempts by
// outcome, the requests the backend received, and the faults that began.
func (rs *results) printTimeline(out io.Writer) {
	s := rs.sim
	last := 0
	for i := range s.seconds {
		last = max(last, i)
	}
	faults := map[int][]string{}
	for _, f := range rs.faults {
		i := int(f.at / time.Second)
		faults[i] = append(faults[i], f.name)
	}
	fmt.Fprintf(out, "\nTIMELINE (per second after the start of traffic)\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "s\tattempts\t2xx\t409\t503\tno answer\tother\tbackend\t\n")
	for i := 0; i <= last; i++ {
		c := s.seconds[i]
		if c == nil {
			c = &second{}
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t  %s\n", i, c.attempts, c.ok, c.inFlight, c.unavailable, c.noAnswer, c.other, c.backend, strings.Join(faults[i], "; "))
	}
	tw.Flush()
}

func appList(apps []application) string {
	var out []string
	for _, a := range apps {
		out = append(out, fmt.Sprintf("%s (%s) user %s credits %d", a.eventID, a.eventType, a.userID, a.credits))
	}
	return strings.Join(out, "; ")
}

func eventIDs(p *purchase) string {
	var ids []string
	for _, e := range p.events {
		e.mu.Lock()
		ids = append(ids, fmt.Sprintf("%s %s acked=%t 2xx=%v last attempts: %s", e.id, e.typ, e.acked.Load(), e.answers, strings.Join(e.history, " | ")))
		e.mu.Unlock()
	}
	return strings.Join(ids, "; ")
}

// mark flags a value that must be zero.
func mark(n int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d  <-- must be 0", n)
}

func pct(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := min(len(sorted)-1, int(q*float64(len(sorted)-1)+0.5))
	d := sorted[i]
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
