package extract_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/outcome"
)

const fuzzMaxCredits = 1_000_000

var (
	uuidRe  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	uuid4Re = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	userRe  = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
)

// FuzzExtract feeds untrusted metadata, client_reference_id and customer values through
// every user_id_format. Extract must never panic; a success must carry 1..max credits
// written canonically and a user id valid for the format (checked here independently of
// the validator); a failure must be one of the permanent sentinels (the fake customer
// map never fails) with a short, escaped message.
//
// The seed corpus is testdata/fuzz/FuzzExtract plus the cases below.
func FuzzExtract(f *testing.F) {
	f.Add(user1, "100", "", "")
	f.Add("", "5", user2, "cus_1")
	f.Add("", "1", "", "cus_e747de39-1b54-4cd0-96eb-e68f155931e2")
	f.Add("", "1", "", "cus_")
	f.Add("user 1", "007", "", "")
	f.Add("a\x00b", "1e9", "", "")
	f.Add("\xff", "١٢", "x", "")
	f.Add(user1, "9223372036854775808", "", "")
	f.Add(user1, "1000000", "", "")
	f.Add(user1, "1000001", "", "")

	formats := map[string]func(string) bool{
		"":                       defaultUserIDOK,
		"uuid":                   uuidRe.MatchString,
		"uuid4":                  uuid4Re.MatchString,
		"regexp:[a-z0-9_]{1,32}": userRe.MatchString,
	}
	xs := map[string]*extract.Extractor{}
	for format := range formats {
		xs[format] = newExtractor(f, config.Extract{
			UserID:       []string{outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceCustomerMap},
			UserIDFormat: format,
			Credits:      []string{outcome.SourceMetadataCredits},
			MaxCredits:   fuzzMaxCredits,
		})
	}

	f.Fuzz(func(t *testing.T, userID, credits, clientRef, customerID string) {
		meta := map[string]string{}
		if userID != "" {
			meta["user_id"] = userID
		}
		if credits != "" {
			meta["credits"] = credits
		}
		obj := event.Object{ID: "cs_fuzz", PaymentStatus: "paid", ClientReferenceID: clientRef, Customer: customerID, Metadata: meta}
		// The customer map knows the session's customer, mapped to a user id the fuzzer
		// chose: the id without its "cus_" prefix.
		cs := &customers{m: map[string]string{customerID: strings.TrimPrefix(customerID, "cus_")}}
		for format, valid := range formats {
			g, err := xs[format].Extract(context.Background(), obj, cs)
			if err != nil {
				if extract.Reason(err) == "" {
					t.Fatalf("format %q: error %v has no dead-letter reason", format, err)
				}
				if n := len(err.Error()); n > maxMessage {
					t.Fatalf("format %q: message is %d bytes", format, n)
				}
				for _, r := range err.Error() {
					if !unicode.IsPrint(r) {
						t.Fatalf("format %q: message has unescaped %U: %q", format, r, err)
					}
				}
				continue
			}
			if g.Credits < 1 || g.Credits > fuzzMaxCredits {
				t.Fatalf("format %q: credits %d out of 1..%d", format, g.Credits, fuzzMaxCredits)
			}
			if s := strconv.FormatInt(g.Credits, 10); s != credits {
				t.Fatalf("format %q: credits %q accepted as %d", format, credits, g.Credits)
			}
			if !valid(g.UserID) {
				t.Fatalf("format %q: accepted invalid user id %q", format, g.UserID)
			}
			var want string
			switch g.UserSource {
			case outcome.SourceMetadataUserID:
				want = userID
			case outcome.SourceClientReferenceID:
				want = clientRef
				if userID != "" {
					t.Fatalf("format %q: client_reference_id used though metadata has %q", format, userID)
				}
			case outcome.SourceCustomerMap:
				want = cs.m[customerID]
				if userID != "" || clientRef != "" {
					t.Fatalf("format %q: customer map used though an earlier source has a value", format)
				}
			default:
				t.Fatalf("format %q: unknown user source %q", format, g.UserSource)
			}
			if g.UserID != want {
				t.Fatalf("format %q: user id %q from %s, want %q", format, g.UserID, g.UserSource, want)
			}
		}
	})
}

// defaultUserIDOK restates the default format: 1-128 printable characters, valid
// UTF-8, no spaces.
func defaultUserIDOK(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return n >= 1 && n <= 128
}
