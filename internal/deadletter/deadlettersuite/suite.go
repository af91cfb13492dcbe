// Package deadlettersuite is the behaviour every deadletter.List must show, as one test
// suite that runs against each implementation (the file and real Redis).
package deadlettersuite

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
)

// Storage prepares fresh, empty storage for one test and returns a function that opens
// a list on it. Each call of open returns another handle on the same storage, as a
// restarted process or a second process (the dlq command) would get; whoever opens
// registers the Close with t.Cleanup.
type Storage func(t *testing.T) (open func() deadletter.List)

// Run runs the suite; each case gets its own storage and runs in parallel.
func Run(t *testing.T, storage Storage) {
	cases := []struct {
		name string
		run  func(t *testing.T, open func() deadletter.List)
	}{
		{"ParkAndGet", parkAndGet},
		{"ParkFillsIDAndTime", parkFillsIDAndTime},
		{"ParkRejectsEntryWithoutID", parkRejectsNoID},
		{"ParkIsUpsert", parkIsUpsert},
		{"ListIsOldestFirst", listOldestFirst},
		{"EmptyList", emptyList},
		{"Delete", deleteEntry},
		{"NotFound", notFound},
		{"PayloadIsExact", payloadIsExact},
		{"ReopenKeepsEntries", reopenKeepsEntries},
		{"TwoHandlesSeeEachOther", twoHandles},
		{"ConcurrentParks", concurrentParks},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, storage(t))
		})
	}
}

var t0 = time.Date(2026, 11, 27, 19, 6, 22, 0, time.UTC)

// Sample returns a complete entry for event n of route main, parked n minutes after t0.
func Sample(n int) deadletter.Entry {
	id := fmt.Sprintf("evt_%03d", n)
	return deadletter.Entry{
		ID:        "main:" + id,
		Route:     "main",
		EventID:   id,
		EventType: "checkout.session.completed",
		Reason:    "no_user_id",
		Detail:    "no user id in metadata.user_id or client_reference_id",
		ParkedAt:  t0.Add(time.Duration(n) * time.Minute),
		Payload:   `{"id":"` + id + `","object":"event","type":"checkout.session.completed"}`,
	}
}

func parkAndGet(t *testing.T, open func() deadletter.List) {
	l := open()
	e := Sample(1)
	e.Replays = 2
	park(t, l, e)
	expectEntry(t, get(t, l, e.ID), e)
	expectLen(t, l, 1)
}

func parkFillsIDAndTime(t *testing.T, open func() deadletter.List) {
	l := open()
	e := Sample(1)
	e.ID, e.ParkedAt = "", time.Time{}
	before := time.Now()
	park(t, l, e)
	after := time.Now()
	got := get(t, l, "main:evt_001")
	if got.ParkedAt.Before(before.Add(-time.Second)) || got.ParkedAt.After(after.Add(time.Second)) {
		t.Errorf("ParkedAt = %v, want the time of Park (%v)", got.ParkedAt, before)
	}
	if got.ParkedAt.Location() != time.UTC {
		t.Errorf("ParkedAt is in %v, want UTC", got.ParkedAt.Location())
	}
}

func parkRejectsNoID(t *testing.T, open func() deadletter.List) {
	l := open()
	for _, e := range []deadletter.Entry{{}, {Route: "main"}, {EventID: "evt_1"}} {
		if err := l.Park(t.Context(), e); !errors.Is(err, deadletter.ErrInvalid) {
			t.Errorf("Park(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	expectLen(t, l, 0)
}

func parkIsUpsert(t *testing.T, open func() deadletter.List) {
	l := open()
	park(t, l, Sample(1))
	park(t, l, Sample(2))
	again := Sample(1)
	again.Reason, again.Detail, again.Replays = "backend_rejected", "backend said 422", 1
	park(t, l, again)
	expectLen(t, l, 2)
	expectEntry(t, get(t, l, again.ID), again)
}

func listOldestFirst(t *testing.T, open func() deadletter.List) {
	l := open()
	tie := Sample(5)
	tie.ID, tie.EventID = "main:evt_000", "evt_000" // same ParkedAt as Sample(5): ID breaks the tie
	for _, e := range []deadletter.Entry{Sample(5), Sample(1), Sample(9), tie, Sample(3)} {
		park(t, l, e)
	}
	es, err := l.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.ID)
	}
	want := "main:evt_001 main:evt_003 main:evt_000 main:evt_005 main:evt_009"
	if strings.Join(got, " ") != want {
		t.Errorf("List order = %v, want %s", got, want)
	}
}

func emptyList(t *testing.T, open func() deadletter.List) {
	l := open()
	es, err := l.List(t.Context())
	if err != nil || len(es) != 0 {
		t.Errorf("List of an empty list = %v, %v; want none", es, err)
	}
	expectLen(t, l, 0)
}

func deleteEntry(t *testing.T, open func() deadletter.List) {
	l := open()
	park(t, l, Sample(1))
	park(t, l, Sample(2))
	if err := l.Delete(t.Context(), Sample(1).ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectLen(t, l, 1)
	if _, err := l.Get(t.Context(), Sample(1).ID); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := l.Delete(t.Context(), Sample(1).ID); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	park(t, l, Sample(1)) // parking again after a delete works
	expectLen(t, l, 2)
}

func notFound(t *testing.T, open func() deadletter.List) {
	l := open()
	park(t, l, Sample(1))
	if _, err := l.Get(t.Context(), "main:evt_404"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := l.Delete(t.Context(), "main:evt_404"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	expectLen(t, l, 1)
}

// payloads that a careless encoding would change.
var payloads = map[string]string{
	"empty":          "",
	"json":           `{"id":"evt_1","data":{"object":{"metadata":{"user_id":"ü-42"}}}}`,
	"html chars":     `{"note":"<b>&amp;</b>"}`,
	"newlines":       "{\n  \"id\": \"evt_1\"\r\n}\n",
	"line separator": "a\u2028b\u2029c",
	"invalid utf-8":  "{\"x\":\"\xff\xfe\xc3\x28\"}",
	"nul and ctrl":   "a\x00b\x01c\x7f",
	"large":          strings.Repeat(`{"k":"v"},`, 100_000),
}

func payloadIsExact(t *testing.T, open func() deadletter.List) {
	l := open()
	n := 0
	ids := map[string]string{}
	for name, p := range payloads {
		n++
		e := Sample(n)
		e.Payload = p
		park(t, l, e)
		ids[name] = e.ID
	}
	for _, h := range []deadletter.List{l, open()} {
		for name, id := range ids {
			if got := get(t, h, id).Payload; got != payloads[name] {
				t.Errorf("payload %s changed: %q (len %d), want len %d", name, trim(got), len(got), len(payloads[name]))
			}
		}
	}
}

func reopenKeepsEntries(t *testing.T, open func() deadletter.List) {
	l := open()
	for n := 1; n <= 3; n++ {
		park(t, l, Sample(n))
	}
	if err := l.Delete(t.Context(), Sample(2).ID); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := open()
	expectLen(t, r, 2)
	expectEntry(t, get(t, r, Sample(1).ID), Sample(1))
	expectEntry(t, get(t, r, Sample(3).ID), Sample(3))
}

func twoHandles(t *testing.T, open func() deadletter.List) {
	server, cli := open(), open()
	park(t, server, Sample(1))
	park(t, server, Sample(2))
	expectEntry(t, get(t, cli, Sample(1).ID), Sample(1))
	if err := cli.Delete(t.Context(), Sample(1).ID); err != nil {
		t.Fatalf("Delete through the second handle: %v", err)
	}
	if _, err := server.Get(t.Context(), Sample(1).ID); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("first handle still sees the dropped entry: %v", err)
	}
	park(t, cli, Sample(3))
	expectLen(t, server, 2)
	expectLen(t, cli, 2)
}

func concurrentParks(t *testing.T, open func() deadletter.List) {
	l := open()
	var wg sync.WaitGroup
	for n := range 40 {
		wg.Go(func() {
			if err := l.Park(t.Context(), Sample(n%20)); err != nil { // every id twice
				t.Errorf("Park: %v", err)
			}
		})
	}
	wg.Wait()
	expectLen(t, l, 20)
	expectLen(t, open(), 20)
}

func park(t *testing.T, l deadletter.List, e deadletter.Entry) {
	t.Helper()
	if err := l.Park(t.Context(), e); err != nil {
		t.Fatalf("Park(%s): %v", e.ID, err)
	}
}

func get(t *testing.T, l deadletter.List, id string) deadletter.Entry {
	t.Helper()
	e, err := l.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

func expectLen(t *testing.T, l deadletter.List, want int) {
	t.Helper()
	if n, err := l.Len(t.Context()); err != nil || n != want {
		t.Errorf("Len = %d, %v; want %d", n, err, want)
	}
}

func expectEntry(t *testing.T, got, want deadletter.Entry) {
	t.Helper()
	if !got.ParkedAt.Equal(want.ParkedAt) {
		t.Errorf("ParkedAt = %v, want %v", got.ParkedAt, want.ParkedAt)
	}
	got.ParkedAt, want.ParkedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("entry = %+v\nwant    %+v", got, want)
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
