package event

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	user1 = "e747de39-1b54-4cd0-96eb-e68f155931e2"
	user2 = "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7"
	user3 = "9a0d6f3b-41c2-4e85-b7d9-3c8e1f2a6b40"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// session returns the Object of a paid one-off checkout session; tests change what differs.
func session(id, customer, pi, cref string, amount int64, currency string, meta map[string]string) Object {
	return Object{
		ID: id, Object: "checkout.session", ClientReferenceID: cref, Customer: customer,
		PaymentIntent: pi, PaymentStatus: "paid", Status: "complete", Mode: "payment",
		AmountTotal: amount, Currency: currency, Metadata: meta,
	}
}

func TestDecodeFixtures(t *testing.T) {
	const unpaidSession = "cs_test_a1u1wo1biWqc6yr4mMRtZ4gN3q8shEwd7gMsZKBWanjRZ2gvBpxnXDlG"
	unpaid := session(unpaidSession, "cus_YQSURm9JdFqCXx", "pi_3KDDo2n5yrl6s7V1f0CFn26P", "",
		1999, "eur", map[string]string{"credits": "200", "user_id": user2})
	unpaid.PaymentStatus = "unpaid"
	free := session("cs_test_a1zy0uatYk5LLh9ygbEH1nWbo7ul2X4i1ypAm165ITcfnbEOu66TsCvN", "", "", user3,
		0, "eur", map[string]string{"credits": "100", "user_id": user3})
	free.PaymentStatus = "no_payment_required"

	tests := []struct {
		file string
		want View
	}{{
		file: "checkout_session_completed_paid_2020-08-27.json",
		want: View{
			ID: "evt_1VB8sKliP855QDHqPdtPe6eQ", Type: "checkout.session.completed",
			APIVersion: "2020-08-27", Created: 1717000000,
			Object: session("cs_test_a1Xhx5T62Vle2SpMDHtC4SR4EEDEtxqpyZzibRGZj3l455qUR5tJY8w6",
				"cus_M3gzndZNeqz1fB", "pi_3DqGCvLcB9kb46xOTWU32wOK", "", 999, "eur",
				map[string]string{"credits": "100", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_paid_2023-10-16.json",
		want: View{
			ID: "evt_1pIMKIc4V96no65S6LonIVaJ", Type: "checkout.session.completed",
			APIVersion: "2023-10-16", Created: 1705311000,
			Object: session("cs_test_a13w5sHforiS1lYIM0k4UKzxwH0katvOYfTUF4XTbHH4qUcawxfD6RoR",
				"cus_tzxrtvlP5p5Wgg", "pi_3vO4kBEZFMPZPgQotq0FVdEk", "", 2499, "usd",
				map[string]string{"credits": "250", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_paid_2024-06-20.json",
		want: View{
			ID: "evt_1duz4QqGXaEMvCGdlBgAIsmp", Type: "checkout.session.completed",
			APIVersion: "2024-06-20", Created: 1725002400,
			Object: session("cs_test_a1cRQHyk0zHbUXs4Zm716LJJzUkcRmWBAThkSjum9LleSSbObfK5w7zn",
				"", "pi_37t7XCh4ZSIpwleHaXsS7wGN", user1, 999, "eur",
				map[string]string{"credits": "100"}),
		},
	}, {
		file: "checkout_session_completed_paid_2025-03-31.basil.json",
		want: View{
			ID: "evt_1gOTDhXOuxpsgb61mRfxSlnd", Type: "checkout.session.completed",
			APIVersion: "2025-03-31.basil", Created: 1745493600,
			Object: session("cs_test_a17RwwL7Go1dadBuJxk7mcALadFg1IkaK2LIMCGdUFxb74p9v2JAEVP8",
				"cus_D0zt9BcyQoAbxN", "pi_3NmROH6GE6HlNDWCZ7c904cY", user1, 5000, "eur",
				map[string]string{"credits": "500", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_paid_2026-dahlia.json",
		want: View{
			ID: "evt_1ucEPOOTmSkTuF8kwVT3kUY6", Type: "checkout.session.completed",
			APIVersion: "2026-03-25.dahlia", Created: 1774483200,
			Object: session("cs_test_a1fh2CJ02sOJVgWlzzbJA59jc8nIH8rd7tfacIq1iHWZKp3Shu59xS3W",
				"cus_jhJkyCuV1Zb3Gp", "", "", 8999, "eur",
				map[string]string{"credits": "1000", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_unpaid.json",
		want: View{
			ID: "evt_1NG04JTmflAfE5aVUh2YILpS", Type: "checkout.session.completed",
			APIVersion: "2024-06-20", Created: 1725435000, Object: unpaid,
		},
	}, {
		file: "checkout_session_async_payment_succeeded.json",
		want: View{
			ID: "evt_1I0eP5k1TOBSFnvlLNjy57AV", Type: "checkout.session.async_payment_succeeded",
			APIVersion: "2024-06-20", Created: 1725694200,
			Object: session(unpaidSession, "cus_YQSURm9JdFqCXx", "pi_3KDDo2n5yrl6s7V1f0CFn26P", "",
				1999, "eur", map[string]string{"credits": "200", "user_id": user2}),
		},
	}, {
		file: "checkout_session_completed_no_payment_required.json",
		want: View{
			ID: "evt_1kjQpDR7eGmpBPdxQbzmlkRW", Type: "checkout.session.completed",
			APIVersion: "2025-03-31.basil", Created: 1747900800, Object: free,
		},
	}, {
		file: "checkout_session_completed_expanded_customer.json",
		want: View{
			ID: "evt_1cLyt1AXUXmC2QUF8WTQBQK6", Type: "checkout.session.completed",
			APIVersion: "2024-06-20", Created: 1726214400,
			Object: session("cs_test_a1QZMXtVFiHY46i9zvIlp957hQzzsPBmyDvCZrUiAjuSkycgc4yU1gL3",
				"cus_VC1wipegWOyqHF", "pi_3zYCL0eZjGIisY8WyeJXKAib", "", 999, "eur",
				map[string]string{"credits": "100", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_paid_livemode.json",
		want: View{
			ID: "evt_13DHG2Z7ymeDh10BjpQnGEBf", Type: "checkout.session.completed",
			APIVersion: "2024-06-20", Created: 1727776800, Livemode: true,
			Object: session("cs_live_a1xd6eSpVKUF4keNgEKKBMRCnhkxqAd4b7bi7NPJAxyS1xs8N8v5lSPg",
				"cus_3WI7jphdD8Lu3N", "pi_3Z8VLzYe7MJxzXcA6EP7iXbw", "", 999, "eur",
				map[string]string{"credits": "100", "user_id": user1}),
		},
	}, {
		file: "checkout_session_completed_connect.json",
		want: View{
			ID: "evt_1SCU8LuAKRfErrH0avuDngH4", Type: "checkout.session.completed",
			APIVersion: "2024-06-20", Created: 1728380000, Account: "acct_1bYhhkDlE8OUkVJV",
			Object: session("cs_test_a1paLf1QMRM6nzjnxvGcG7iTcfTdKpEsBmEnAf5aAfaaQ77Oe2s57G42",
				"", "pi_3MJyjfubBhKVwocJyo7uNi1N", user1, 1499, "eur",
				map[string]string{"credits": "150"}),
		},
	}, {
		file: "payment_intent_succeeded.json",
		want: View{
			ID: "evt_1G3OjV6bv7omJJMXAK2MPyhY", Type: "payment_intent.succeeded",
			APIVersion: "2024-06-20", Created: 1725002399,
			Object: Object{ID: "pi_37t7XCh4ZSIpwleHaXsS7wGN", Object: "payment_intent",
				Status: "succeeded", Currency: "eur", Amount: 999},
		},
	}, {
		file: "charge_refunded.json",
		want: View{
			ID: "evt_1zeUlxJKXhi7EsrKCF3GFRIu", Type: "charge.refunded",
			APIVersion: "2024-06-20", Created: 1725607200,
			Object: Object{ID: "ch_3d7WHnKb2SDH2ADZaNFq9O5p", Object: "charge",
				PaymentIntent: "pi_37t7XCh4ZSIpwleHaXsS7wGN", Status: "succeeded", Currency: "eur",
				Amount: 999, AmountRefunded: 999, Refunded: true, AmountCaptured: 999, Created: 1725002385},
		},
	}, {
		file: "charge_refunded_partial.json",
		want: View{
			ID: "evt_1CWTOzuTRmqxP4ZXYATzFva3", Type: "charge.refunded",
			APIVersion: "2025-03-31.basil", Created: 1746098400,
			Object: Object{ID: "ch_3SF1kSw8we7EfjbYqVOSXYxe", Object: "charge",
				Customer: "cus_D0zt9BcyQoAbxN", PaymentIntent: "pi_3NmROH6GE6HlNDWCZ7c904cY",
				Status: "succeeded", Currency: "eur", Amount: 5000, AmountRefunded: 2500,
				AmountCaptured: 5000, Created: 1745493580},
		},
	}, {
		file: "charge_dispute_created_2023-10-16.json",
		want: View{
			ID: "evt_1Q4dVtJKXhi7EsrKdpCr8aX2", Type: "charge.dispute.created",
			APIVersion: "2023-10-16", Created: 1727000000,
			Object: Object{ID: "dp_1Q4dVtJKXhi7EsrKqRn3mX0b", Object: "dispute",
				PaymentIntent: "pi_37t7XCh4ZSIpwleHaXsS7wGN", Status: "needs_response", Currency: "eur",
				Amount: 999, Created: 1726999990},
		},
	}, {
		file: "refund_updated_failed_2023-10-16.json",
		want: View{
			ID: "evt_1Q5xKmJKXhi7EsrKr8fTzW1c", Type: "refund.updated",
			APIVersion: "2023-10-16", Created: 1727100000,
			Object: Object{ID: "re_3d7WHnKb2SDH2ADZ0hF4kQ2s", Object: "refund",
				PaymentIntent: "pi_37t7XCh4ZSIpwleHaXsS7wGN", Status: "failed", Currency: "eur",
				Amount: 500, Created: 1725607190},
		},
	}}

	// data.object.created of the session fixtures, which the helpers above leave out.
	created := map[string]int64{
		"checkout_session_completed_paid_2020-08-27.json":       1716999959,
		"checkout_session_completed_paid_2023-10-16.json":       1705310959,
		"checkout_session_completed_paid_2024-06-20.json":       1725002359,
		"checkout_session_completed_paid_2025-03-31.basil.json": 1745493559,
		"checkout_session_completed_paid_2026-dahlia.json":      1774483159,
		"checkout_session_completed_unpaid.json":                1725434959,
		"checkout_session_async_payment_succeeded.json":         1725434959,
		"checkout_session_completed_no_payment_required.json":   1747900759,
		"checkout_session_completed_expanded_customer.json":     1726214359,
		"checkout_session_completed_paid_livemode.json":         1727776759,
		"checkout_session_completed_connect.json":               1728379959,
		"payment_intent_succeeded.json":                         1725002380,
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if c, ok := created[tt.file]; ok {
			tt.want.Object.Created = c
		}
		t.Run(tt.file, func(t *testing.T) {
			got, err := Decode(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, tt.want)
			}
			if seen[got.ID] {
				t.Errorf("event id %s used by two fixtures", got.ID)
			}
			seen[got.ID] = true
		})
	}

	// Every good fixture is in the table, so a new file cannot go untested.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) != len(tests) {
		t.Errorf("testdata has %d fixtures, the table checks %d", len(files), len(tests))
	}
}

func TestDecodeBroken(t *testing.T) {
	tests := []struct {
		file string
		want string // fragment of the error message
	}{
		{"empty.json", "empty body"},
		{"not_json.txt", "invalid JSON at byte 1 of 122: invalid character '<' looking for beginning of value"},
		{"array.json", "top level: got JSON array, want object"},
		{"missing_id.json", "id is missing, null or empty"},
		{"missing_type.json", "type is missing, null or empty"},
		{"data_not_object.json", "data: got JSON array, want object"},
		{"data_object_null.json", "data.object is missing or null"},
		{"id_number.json", "id: got JSON number, want string"},
		{"trailing_garbage.json", "invalid character 'e' after top-level value"},
		{"truncated.json", "unexpected end of JSON input"},
		{"object_not_event.json", `object is "checkout.session", want "event"`},
		{"amount_total_string.json", "data.object.amount_total: got JSON string, want integer"},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "broken", "*"))
	if len(files) != len(tests) {
		t.Errorf("testdata/broken has %d files, the table checks %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readFixture(t, filepath.Join("broken", tt.file))
			v, err := Decode(raw)
			checkMalformed(t, v, err, tt.want)
		})
	}
}

// checkMalformed asserts a Decode failure: ErrMalformed, the message fragment, an
// empty View, and no long run of the payload in the message.
func checkMalformed(t *testing.T, v View, err error, want string) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode error = %v, want ErrMalformed", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Decode error = %q, want it to contain %q", err, want)
	}
	if !reflect.DeepEqual(v, View{}) {
		t.Errorf("Decode returned %+v with an error, want the zero View", v)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error message is %d bytes long: %q", len(err.Error()), err)
	}
}
