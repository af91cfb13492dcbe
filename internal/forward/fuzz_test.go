package forward

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The backend's answer is untrusted input that ends up in error messages and logs.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "\x00\xff\r\n", "é\u202e\u200b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := sanitize(b)
		if len(s) > maxSnippet || !utf8.ValidString(s) {
			t.Fatalf("sanitize = %q", s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("sanitize kept %U in %q", r, s)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Fri, 27 Nov 2026 19:00:07 GMT", "-5"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %s, %v", s, d, ok)
		}
	})
}

// FuzzRequestJSON holds Request.marshal, which writes plain requests by hand, equal to
// encoding/json's bytes for the same fields, whatever the strings and the time hold.
func FuzzRequestJSON(f *testing.F) {
	f.Add("cs_test_a1", "e747de39-1b54-4cd0-96eb-e68f155931e2", "evt_1", "cus_1", "pi_1", "eur", "", int64(100), int64(1_764_000_000), true)
	f.Add("evt_2", "user <42> & \"co\"", "evt_2", "", "", "", "acct_1", int64(-5), int64(-62_135_596_801), false)
	f.Add("cs_\x00", "é\u2028\xff", "evt_3", "cus_\\", "pi_\x7f", "EUR", "acct_2", int64(0), int64(253_402_300_800), false)
	f.Fuzz(func(t *testing.T, id, user, eventID, customer, pi, currency, account string, credits, unix int64, live bool) {
		r := Request{
			ID: id, Type: TypeGranted, UserID: user, Credits: credits, Livemode: live,
			OccurredAt: time.Unix(unix, 0).In(time.FixedZone("X", 3600)),
			Stripe: StripeRef{EventID: eventID, EventType: "checkout.session.completed", SessionID: id,
				InvoiceID: pi + customer, CustomerID: customer, PaymentIntentID: pi, AmountTotal: credits * 3,
				Currency: currency, Account: account},
		}
		got, gotErr := r.marshal()
		type plain Request
		r.OccurredAt = r.OccurredAt.UTC().Truncate(time.Second)
		want, wantErr := json.Marshal(plain(r))
		if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("marshal:\n got %s (%v)\nwant %s (%v)", got, gotErr, want, wantErr)
		}
	})
}
