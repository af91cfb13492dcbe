// Package deadletter owns the dead-letter list: the Stripe events creditgate answered
// 200 without crediting, because crediting them can never succeed as they are (no user
// id, bad credits, a backend 4xx). Each entry keeps the raw event body so an operator can
// inspect it, fix the cause and replay it (`creditgate dlq list|show|replay|drop`).
//
// "Parked" means durable: a parked entry must survive a restart, because Stripe has
// already been told 200 and will not deliver the event again. Two implementations
// satisfy List: Redis (durable only with Redis persistence, AOF, enabled) and File, an
// fsynced append-only file for the single-replica in-memory setup. Both pass the same
// behaviour suite (package deadlettersuite).
package deadletter

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned by Get and Delete for an id that is not in the list.
var ErrNotFound = errors.New("dead-letter entry not found")

// ErrUnavailable wraps every failure to reach the list's storage (Redis unreachable, a
// failed write or fsync). A Park that fails with it has not parked anything: the
// webhook must not be answered 200.
var ErrUnavailable = errors.New("dead-letter list unavailable")

// ErrInvalid wraps the rejection of an entry that cannot be parked (no id and no
// route/event id to derive one from).
var ErrInvalid = errors.New("deadletter: invalid entry")

// Entry is one parked event.
type Entry struct {
	// ID identifies the entry: "<route>:<event_id>". Park derives it from Route and
	// EventID when it is empty.
	ID string `json:"id"`
	// Route is the name of the route that received the event.
	Route string `json:"route"`
	// EventID is Stripe's event id (evt_...).
	EventID string `json:"event_id"`
	// EventType is Stripe's event type, e.g. checkout.session.completed.
	EventType string `json:"event_type"`
	// Reason is a short bounded word for metrics and filtering: no_user_id, bad_user_id,
	// no_credits, bad_credits, backend_rejected, ...
	Reason string `json:"reason"`
	// Detail is the message for the operator.
	Detail string `json:"detail"`
	// ParkedAt is when the entry was parked. Park sets the zero value to the current
	// time; it is stored in UTC.
	ParkedAt time.Time `json:"parked_at"`
	// Replays counts replays so far; the caller maintains it.
	Replays int `json:"replays"`
	// LastReplay records the latest replay that parked the entry again: when, who,
	// what an operator supplied, and what came of it (the caller maintains it; the
	// audit log has every replay). Zero when the entry was never replayed.
	LastReplay Replay `json:"last_replay,omitzero"`
	// Payload is the raw event body exactly as received, byte for byte (bodies that are
	// not valid UTF-8 are stored in base64 behind the scenes, so they survive too).
	Payload string `json:"payload"`
}

// Replay is one replay of an entry (Entry.LastReplay).
type Replay struct {
	At time.Time `json:"at"`
	// Operator is who ran the replay ($USER of `creditgate dlq`), when known.
	Operator string `json:"operator,omitempty"`
	// UserID and Credits are what the operator supplied (dlq replay --user/--credits);
	// empty and 0 when the replay ran on the stored event alone.
	UserID  string `json:"user_id,omitempty"`
	Credits int64  `json:"credits,omitempty"`
	// Result is the outcome (a pipeline result word) and Reason its reason.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Filter selects entries; its zero value selects every entry.
type Filter struct {
	Route  string        // only this route ("": any)
	Reason string        // only this reason ("": any)
	Older  time.Duration // only entries parked at least this long ago (0: any)
	Newer  time.Duration // only entries parked less than this long ago (0: any)
}

// Match reports whether e passes f at time now.
func (f Filter) Match(e Entry, now time.Time) bool {
	age := now.Sub(e.ParkedAt)
	return (f.Route == "" || e.Route == f.Route) &&
		(f.Reason == "" || e.Reason == f.Reason) &&
		(f.Older == 0 || age >= f.Older) &&
		(f.Newer == 0 || age < f.Newer)
}

// List is the dead-letter list. Implementations are safe for concurrent use.
type List interface {
	// Park stores e durably, replacing any entry with the same ID (upsert). When it
	// returns nil the entry survives a restart.
	Park(ctx context.Context, e Entry) error
	// List returns every entry, oldest ParkedAt first (ties by ID).
	List(ctx context.Context) ([]Entry, error)
	// Get returns the entry with id, or ErrNotFound.
	Get(ctx context.Context, id string) (Entry, error)
	// Delete removes the entry with id, or returns ErrNotFound if there is none.
	Delete(ctx context.Context, id string) error
	// Len returns the number of entries.
	Len(ctx context.Context) (int, error)
	// Close releases what the list itself owns (see each implementation).
	Close() error
}

// Counter is a List that can count its entries per route and reason without reading
// them all (Redis's index); what Count(List) would give.
type Counter interface {
	Counts(ctx context.Context) (map[string]map[string]int, error)
}

// prepare fills in the derived fields of an entry about to be parked.
func prepare(e Entry, now time.Time) (Entry, error) {
	if e.ID == "" {
		if e.Route == "" || e.EventID == "" {
			return Entry{}, fmt.Errorf("%w: no id, and no route and event id to derive it from", ErrInvalid)
		}
		e.ID = EntryID(e.Route, e.EventID)
	}
	if e.ParkedAt.IsZero() {
		e.ParkedAt = now
	}
	e.ParkedAt = e.ParkedAt.UTC()
	return e, nil
}

// sortEntries orders entries oldest first, ties by ID.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(a.ParkedAt.Compare(b.ParkedAt), cmp.Compare(a.ID, b.ID))
	})
}

// wireEntry is how an Entry is stored (a Redis hash value, a file record): Entry's own
// JSON, except that a payload which is not valid UTF-8 (JSON would replace the bad
// bytes) travels in payload_base64 instead.
type wireEntry struct {
	Entry
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
}

func toWire(e Entry) wireEntry {
	if utf8.ValidString(e.Payload) {
		return wireEntry{Entry: e}
	}
	w := wireEntry{Entry: e, PayloadBase64: []byte(e.Payload)}
	w.Payload = ""
	return w
}

func (w wireEntry) entry() (Entry, error) {
	e := w.Entry
	if w.PayloadBase64 != nil {
		if e.Payload != "" {
			return Entry{}, errors.New("both payload and payload_base64")
		}
		e.Payload = string(w.PayloadBase64)
	}
	if e.ID == "" {
		return Entry{}, errors.New("entry without id")
	}
	return e, nil
}

func marshalEntry(e Entry) ([]byte, error) { return json.Marshal(toWire(e)) }

func unmarshalEntry(b []byte) (Entry, error) {
	var w wireEntry
	if err := json.Unmarshal(b, &w); err != nil {
		return Entry{}, err
	}
	return w.entry()
}

// Count tallies entries by route, then reason.
func Count(entries []Entry) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, e := range entries {
		if out[e.Route] == nil {
			out[e.Route] = map[string]int{}
		}
		out[e.Route][e.Reason]++
	}
	return out
}
