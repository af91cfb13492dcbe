package extract_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
)

const (
	user1    = "e747de39-1b54-4cd0-96eb-e68f155931e2" // a version-4 UUID
	user2    = "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7"
	user3    = "9a0d6f3b-41c2-4e85-b7d9-3c8e1f2a6b40"
	uuidV1   = "c232ab00-9414-11ec-b3c8-9f6bdeced846" // version 1
	customer = "cus_M3gzndZNeqz1fB"

	// maxMessage bounds an operator message (Detail, dead-letter entry): a 10 KB
	// hostile value must not become a 10 KB log line.
	maxMessage = 512
)

// customers is a fake customer map. err, when set, is returned by every lookup.
type customers struct {
	m     map[string]string
	err   error
	calls int
}

func (c *customers) Customer(_ context.Context, id string) (string, bool, error) {
	c.calls++
	if c.err != nil {
		return "", false, c.err
	}
	u, ok := c.m[id]
	return u, ok, nil
}

// cfg is the default route extraction config with a small max_credits.
func cfg() config.Extract {
	return config.Extract{
		UserID:     []string{outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceCustomerMap},
		Credits:    []string{outcome.SourceMetadataCredits},
		MaxCredits: 1000,
	}
}

func newExtractor(t testing.TB, c config.Extract) *extract.Extractor {
	t.Helper()
	x, err := extract.New(c)
	if err != nil {
		t.Fatalf("extract.New(%+v): %v", c, err)
	}
	return x
}

// object is a paid session carrying every user id source (each a different user) and
// 100 credits; cases remove or change what they test.
func object() event.Object {
	return event.Object{
		ID: "cs_test_1", Object: "checkout.session", PaymentStatus: "paid",
		ClientReferenceID: user2, Customer: customer,
		Metadata: map[string]string{"user_id": user1, "credits": "100"},
	}
}

func knownCustomers() *customers {
	return &customers{m: map[string]string{customer: user3}}
}

// checkMessage fails if an operator message is too long or carries a character that
// could forge a log line or a terminal escape.
func checkMessage(t testing.TB, msg string) {
	t.Helper()
	if len(msg) > maxMessage {
		t.Errorf("message is %d bytes, want <= %d: %.80q…", len(msg), maxMessage, msg)
	}
	if !utf8.ValidString(msg) {
		t.Errorf("message is not valid UTF-8: %q", msg)
	}
	for _, r := range msg {
		if !unicode.IsPrint(r) {
			t.Errorf("message contains unescaped %U: %q", r, msg)
			return
		}
	}
}

func TestExtractUserSources(t *testing.T) {
	storeDown := errors.New("customer map: connection refused")
	tests := []struct {
		name       string
		sources    []string
		change     func(o *event.Object)
		customers  *customers
		wantUser   string
		wantSource string
		wantErr    error // a sentinel, or storeDown
		wantCalls  int   // customer map lookups
	}{{
		name:     "metadata beats client_reference_id and customer_map",
		wantUser: user1, wantSource: "metadata.user_id",
	}, {
		name:     "client_reference_id beats customer_map",
		change:   func(o *event.Object) { delete(o.Metadata, "user_id") },
		wantUser: user2, wantSource: "client_reference_id",
	}, {
		name:     "empty metadata user_id falls through",
		change:   func(o *event.Object) { o.Metadata["user_id"] = "" },
		wantUser: user2, wantSource: "client_reference_id",
	}, {
		name: "customer_map hit",
		change: func(o *event.Object) {
			delete(o.Metadata, "user_id")
			o.ClientReferenceID = ""
		},
		wantUser: user3, wantSource: "customer_map", wantCalls: 1,
	}, {
		name: "customer_map miss",
		change: func(o *event.Object) {
			delete(o.Metadata, "user_id")
			o.ClientReferenceID = ""
			o.Customer = "cus_unknown"
		},
		wantErr: extract.ErrNoUserID, wantCalls: 1,
	}, {
		name: "customer_map without a customer on the session is not looked up",
		change: func(o *event.Object) {
			delete(o.Metadata, "user_id")
			o.ClientReferenceID = ""
			o.Customer = ""
		},
		wantErr: extract.ErrNoUserID,
	}, {
		name: "customer_map store error is transient, not a dead-letter reason",
		change: func(o *event.Object) {
			delete(o.Metadata, "user_id")
			o.ClientReferenceID = ""
		},
		customers: &customers{err: storeDown},
		wantErr:   storeDown, wantCalls: 1,
	}, {
		name:      "store error is not reached when an earlier source hits",
		customers: &customers{err: storeDown},
		wantUser:  user1, wantSource: "metadata.user_id",
	}, {
		name:     "custom order: customer_map first",
		sources:  []string{"customer_map", "client_reference_id", "metadata.user_id"},
		wantUser: user3, wantSource: "customer_map", wantCalls: 1,
	}, {
		name:     "custom order: client_reference_id first",
		sources:  []string{"client_reference_id", "metadata.user_id"},
		wantUser: user2, wantSource: "client_reference_id",
	}, {
		name:      "custom order: a store error on the first source is not skipped",
		sources:   []string{"customer_map", "metadata.user_id"},
		customers: &customers{err: storeDown},
		wantErr:   storeDown, wantCalls: 1,
	}, {
		name:     "only metadata configured: client_reference_id is ignored",
		sources:  []string{"metadata.user_id"},
		change:   func(o *event.Object) { o.Metadata = map[string]string{"credits": "100"} },
		wantErr:  extract.ErrNoUserID,
		wantUser: "",
	}, {
		name:    "no sources configured",
		sources: []string{},
		wantErr: extract.ErrNoUserID,
	}, {
		name: "the first value wins even when it is invalid",
		change: func(o *event.Object) {
			o.Metadata["user_id"] = "has space"
		},
		wantErr: extract.ErrBadUserID,
	}, {
		name: "customer_map value is validated too",
		change: func(o *event.Object) {
			delete(o.Metadata, "user_id")
			o.ClientReferenceID = ""
		},
		customers: &customers{m: map[string]string{customer: "bad\x00id"}},
		wantErr:   extract.ErrBadUserID, wantCalls: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg()
			if tt.sources != nil {
				c.UserID = tt.sources
			}
			x := newExtractor(t, c)
			obj := object()
			if tt.change != nil {
				tt.change(&obj)
			}
			cs := tt.customers
			if cs == nil {
				cs = knownCustomers()
			}
			g, err := x.Extract(context.Background(), obj, cs)
			if cs.calls != tt.wantCalls {
				t.Errorf("customer map looked up %d times, want %d", cs.calls, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Extract error = %v, want %v", err, tt.wantErr)
				}
				checkMessage(t, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			want := extract.Grant{UserID: tt.wantUser, UserSource: tt.wantSource, Credits: 100, CreditsSource: "metadata.credits"}
			if g != want {
				t.Errorf("Extract = %+v, want %+v", g, want)
			}
		})
	}
}

func TestExtractStoreErrorIsNotPermanent(t *testing.T) {
	storeDown := errors.New("customer map: i/o timeout")
	x := newExtractor(t, cfg())
	obj := object()
	delete(obj.Metadata, "user_id")
	obj.ClientReferenceID = ""
	_, err := x.Extract(context.Background(), obj, &customers{err: storeDown})
	if !errors.Is(err, storeDown) {
		t.Fatalf("error %v does not wrap the store's error", err)
	}
	for _, s := range []error{extract.ErrNoUserID, extract.ErrBadUserID, extract.ErrNoCredits, extract.ErrBadCredits} {
		if errors.Is(err, s) {
			t.Errorf("store error %v wraps the permanent %v", err, s)
		}
	}
	if r := extract.Reason(err); r != "" {
		t.Errorf("Reason(store error) = %q, want \"\" (retry, do not dead-letter)", r)
	}
}

func TestExtractNilCustomers(t *testing.T) {
	x := newExtractor(t, config.Extract{UserID: []string{"customer_map"}, Credits: []string{"metadata.credits"}, MaxCredits: 1000})
	_, err := x.Extract(context.Background(), object(), nil)
	if !errors.Is(err, extract.ErrNoUserID) {
		t.Fatalf("Extract with nil Customers = %v, want ErrNoUserID", err)
	}
}

func TestExtractUserIDFormat(t *testing.T) {
	const (
		defaultFmt = ""
		uuid       = "uuid"
		uuid4      = "uuid4"
		digits     = "regexp:[0-9]{1,10}"
		prefixed   = "regexp:usr_[a-z0-9]+"
	)
	tests := []struct {
		name   string
		format string
		id     string
		ok     bool
	}{
		{"default: uuid", defaultFmt, user1, true},
		{"default: email-like", defaultFmt, "jenny@example.com", true},
		{"default: one char", defaultFmt, "x", true},
		{"default: 128 chars", defaultFmt, strings.Repeat("a", 128), true},
		{"default: 128 multibyte runes", defaultFmt, strings.Repeat("ü", 128), true},
		{"default: non-ASCII letters", defaultFmt, "用户-42", true},
		{"default: 129 chars", defaultFmt, strings.Repeat("a", 129), false},
		{"default: 129 multibyte runes", defaultFmt, strings.Repeat("ü", 129), false},
		{"default: 10 KB", defaultFmt, strings.Repeat("a", 10<<10), false},
		{"default: inner space", defaultFmt, "user 42", false},
		{"default: leading space", defaultFmt, " user42", false},
		{"default: trailing space", defaultFmt, "user42 ", false},
		{"default: only a space", defaultFmt, " ", false},
		{"default: tab", defaultFmt, "user\t42", false},
		{"default: newline (log forging)", defaultFmt, "user42\nlevel=ERROR", false},
		{"default: carriage return", defaultFmt, "user42\r", false},
		{"default: NUL", defaultFmt, "user\x0042", false},
		{"default: DEL", defaultFmt, "user\x7f42", false},
		{"default: ANSI escape", defaultFmt, "\x1b[31muser", false},
		{"default: C1 control", defaultFmt, "user\u008542", false},
		{"default: no-break space", defaultFmt, "user\u00a042", false},
		{"default: line separator", defaultFmt, "user\u202842", false},
		{"default: zero-width space", defaultFmt, "user\u200b42", false},
		{"default: bidi override", defaultFmt, "user\u202e42", false},
		{"default: invalid UTF-8", defaultFmt, "user\xff42", false},
		{"default: truncated UTF-8", defaultFmt, "user\xc3", false},

		{"uuid: v4", uuid, user1, true},
		{"uuid: v1", uuid, uuidV1, true},
		// uuid and uuid4 take the canonical lower-case form (validator v10.26; see go.mod).
		{"uuid: upper case", uuid, strings.ToUpper(user1), false},
		{"uuid: without dashes", uuid, strings.ReplaceAll(user1, "-", ""), false},
		{"uuid: braces", uuid, "{" + user1 + "}", false},
		{"uuid: trailing newline", uuid, user1 + "\n", false},
		{"uuid: one char short", uuid, user1[:35], false},
		{"uuid: not hex", uuid, "g747de39-1b54-4cd0-96eb-e68f155931e2", false},
		{"uuid: plain id", uuid, "user42", false},

		{"uuid4: v4", uuid4, user1, true},
		{"uuid4: another v4", uuid4, user2, true},
		{"uuid4: v1 rejected", uuid4, uuidV1, false},
		{"uuid4: wrong variant", uuid4, "e747de39-1b54-4cd0-c6eb-e68f155931e2", false},
		{"uuid4: trailing newline", uuid4, user1 + "\n", false},
		{"uuid4: plain id", uuid4, "user42", false},

		{"regexp: digits", digits, "4711", true},
		{"regexp: is anchored at the end", digits, "4711x", false},
		{"regexp: is anchored at the start", digits, "x4711", false},
		{"regexp: trailing newline", digits, "4711\n", false},
		{"regexp: too many digits", digits, "12345678901", false},
		{"regexp: prefixed", prefixed, "usr_abc123", true},
		{"regexp: prefix missing", prefixed, "abc123", false},
		{"regexp: alternation stays anchored", "regexp:a|b", "ab", false},
		{"regexp: alternation", "regexp:a|b", "b", true},
		{"regexp: still at most 128 chars", "regexp:a+", strings.Repeat("a", 129), false},
		{"regexp: 128 chars", "regexp:a+", strings.Repeat("a", 128), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg()
			c.UserIDFormat = tt.format
			x := newExtractor(t, c)
			obj := object()
			obj.Metadata["user_id"] = tt.id
			g, err := x.Extract(context.Background(), obj, knownCustomers())
			if tt.ok {
				if err != nil {
					t.Fatalf("Extract(user_id %.40q): %v", tt.id, err)
				}
				if g.UserID != tt.id || g.UserSource != "metadata.user_id" {
					t.Errorf("Extract = %+v, want user %q from metadata.user_id", g, tt.id)
				}
				return
			}
			if !errors.Is(err, extract.ErrBadUserID) {
				t.Fatalf("Extract(user_id %.40q) error = %v, want ErrBadUserID", tt.id, err)
			}
			if r := extract.Reason(err); r != "bad_user_id" {
				t.Errorf("Reason = %q, want bad_user_id", r)
			}
			checkMessage(t, err.Error())
		})
	}
}

func TestNewRejectsBadFormat(t *testing.T) {
	for _, f := range []string{"uuid5", "UUID", "regexp:[", "regex:.*", "email"} {
		c := cfg()
		c.UserIDFormat = f
		if x, err := extract.New(c); err == nil {
			t.Errorf("New(user_id_format %q) = %v, nil; want an error", f, x)
		}
	}
}

func TestExtractCredits(t *testing.T) {
	tests := []struct {
		name    string
		credits *string // nil: no credits key
		want    int64
		wantErr error
	}{
		{"plain", ptr("100"), 100, nil},
		{"one", ptr("1"), 1, nil},
		{"max_credits", ptr("1000"), 1000, nil},
		{"above max_credits", ptr("1001"), 0, extract.ErrBadCredits},
		{"far above max_credits", ptr("999999999999999999"), 0, extract.ErrBadCredits},
		{"zero", ptr("0"), 0, extract.ErrBadCredits},
		{"negative", ptr("-5"), 0, extract.ErrBadCredits},
		{"explicit plus", ptr("+5"), 0, extract.ErrBadCredits},
		{"leading space", ptr(" 5"), 0, extract.ErrBadCredits},
		{"trailing space", ptr("5 "), 0, extract.ErrBadCredits},
		{"trailing newline", ptr("5\n"), 0, extract.ErrBadCredits},
		{"leading zeros", ptr("007"), 0, extract.ErrBadCredits},
		{"exponent", ptr("1e9"), 0, extract.ErrBadCredits},
		{"fraction", ptr("5.0"), 0, extract.ErrBadCredits},
		{"hex", ptr("0x10"), 0, extract.ErrBadCredits},
		{"digit separators", ptr("1_000"), 0, extract.ErrBadCredits},
		{"thousands comma", ptr("1,000"), 0, extract.ErrBadCredits},
		{"int64 max + 1", ptr("9223372036854775808"), 0, extract.ErrBadCredits},
		{"int64 max", ptr("9223372036854775807"), 0, extract.ErrBadCredits},
		{"twenty nines", ptr("99999999999999999999"), 0, extract.ErrBadCredits},
		{"empty", ptr(""), 0, extract.ErrBadCredits},
		{"arabic-indic digits", ptr("١٢"), 0, extract.ErrBadCredits},
		{"fullwidth digits", ptr("１２"), 0, extract.ErrBadCredits},
		{"word", ptr("ten"), 0, extract.ErrBadCredits},
		{"10 KB of digits", ptr(strings.Repeat("9", 10<<10)), 0, extract.ErrBadCredits},
		{"control characters", ptr("5\x1b[2J\x00"), 0, extract.ErrBadCredits},
		{"missing", nil, 0, extract.ErrNoCredits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newExtractor(t, cfg())
			obj := object()
			delete(obj.Metadata, "credits")
			if tt.credits != nil {
				obj.Metadata["credits"] = *tt.credits
			}
			g, err := x.Extract(context.Background(), obj, knownCustomers())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				want := extract.Grant{UserID: user1, UserSource: "metadata.user_id", Credits: tt.want, CreditsSource: "metadata.credits"}
				if g != want {
					t.Errorf("Extract = %+v, want %+v", g, want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Extract error = %v, want %v", err, tt.wantErr)
			}
			checkMessage(t, err.Error())
		})
	}
}

func TestExtractCreditsLargeMax(t *testing.T) {
	c := cfg()
	c.MaxCredits = 999_999_999_999_999_999
	x := newExtractor(t, c)
	obj := object()
	obj.Metadata["credits"] = "999999999999999999"
	g, err := x.Extract(context.Background(), obj, nil)
	if err != nil || g.Credits != 999_999_999_999_999_999 {
		t.Fatalf("Extract = %+v, %v; want 999999999999999999 credits", g, err)
	}
}

func TestExtractNoCreditSources(t *testing.T) {
	c := cfg()
	c.Credits = nil
	_, err := newExtractor(t, c).Extract(context.Background(), object(), nil)
	if !errors.Is(err, extract.ErrNoCredits) {
		t.Fatalf("Extract = %v, want ErrNoCredits", err)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want outcome.Reason
	}{
		{extract.ErrNoUserID, "no_user_id"},
		{extract.ErrBadUserID, "bad_user_id"},
		{extract.ErrNoCredits, "no_credits"},
		{extract.ErrBadCredits, "bad_credits"},
		{errors.Join(errors.New("context"), extract.ErrBadCredits), "bad_credits"},
		{errors.New("store down"), ""},
		{context.Canceled, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := extract.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if tt.want != "" && !slices.Contains(metrics.DeadLetterReasons, string(tt.want)) {
			t.Errorf("reason %q is not in metrics.DeadLetterReasons", tt.want)
		}
	}
}

// Every error Extract returns for a bad event maps to its reason.
func TestExtractErrorsHaveReasons(t *testing.T) {
	x := newExtractor(t, cfg())
	tests := []struct {
		name   string
		change func(o *event.Object)
		want   outcome.Reason
	}{
		{"no user id", func(o *event.Object) { *o = event.Object{Metadata: map[string]string{"credits": "5"}} }, "no_user_id"},
		{"bad user id", func(o *event.Object) { o.Metadata["user_id"] = "a b" }, "bad_user_id"},
		{"no credits", func(o *event.Object) { delete(o.Metadata, "credits") }, "no_credits"},
		{"bad credits", func(o *event.Object) { o.Metadata["credits"] = "5.5" }, "bad_credits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object()
			tt.change(&obj)
			_, err := x.Extract(context.Background(), obj, &customers{})
			if got := extract.Reason(err); got != tt.want {
				t.Errorf("Reason(%v) = %q, want %q", err, got, tt.want)
			}
		})
	}
}

// Hostile values end up quoted, escaped and clipped in the operator message.
func TestExtractMessagesEscapeAndClip(t *testing.T) {
	hostile := "x\n{\"level\":\"ERROR\",\"msg\":\"forged\"}\r\x1b[2J\u2028" + strings.Repeat("A", 10<<10)
	x := newExtractor(t, cfg())
	for _, field := range []string{"user_id", "credits"} {
		t.Run(field, func(t *testing.T) {
			obj := object()
			obj.Metadata[field] = hostile
			_, err := x.Extract(context.Background(), obj, nil)
			if err == nil {
				t.Fatal("Extract accepted a hostile value")
			}
			msg := err.Error()
			checkMessage(t, msg)
			if !strings.Contains(msg, `"x\n{\"level\":\"ERROR\"`) {
				t.Errorf("message does not quote the value with escapes: %q", msg)
			}
			if strings.Contains(msg, strings.Repeat("A", 100)) {
				t.Errorf("message is not clipped: %d bytes", len(msg))
			}
		})
	}
}

func TestExtractConcurrent(t *testing.T) {
	x := newExtractor(t, config.Extract{UserID: []string{"metadata.user_id"}, UserIDFormat: "regexp:[0-9a-f-]{36}", Credits: []string{"metadata.credits"}, MaxCredits: 1000})
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 200 {
				if _, e := x.Extract(context.Background(), object(), nil); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func ptr(s string) *string { return &s }
