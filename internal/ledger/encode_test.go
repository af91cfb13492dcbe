package ledger

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/plainjson"
	"github.com/creditgate/creditgate/internal/testkit"
)

// FuzzRecordJSON holds encode, which writes a grant's record by hand when its strings
// are plain, equal to encoding/json's bytes, whatever the strings, the counts and
// the money hold; and whatever it writes decodes back to the same record.
func FuzzRecordJSON(f *testing.F) {
	f.Add("cs_test_a1", "e747de39-1b54-4cd0-96eb-e68f155931e2", "cus_1", "eur", "", "", int64(100), int64(1999), int64(0), int64(0), int64(0), true)
	f.Add("in_1", "user <42> & \"co\"", "", "", "acct_1", "evt_9", int64(5), int64(-1), int64(3), int64(2), int64(1), false)
	f.Add("cs_\x00", "é\u2028\xff", "cus_\\", "EUR", "acct_2", "evt_\x7f", int64(0), int64(0), int64(0), int64(7), int64(0), false)
	f.Fuzz(func(t *testing.T, id, user, customer, currency, account, pending string, credits, amount, reversed, floor, old int64, live bool) {
		r := Record{
			PurchaseID: id, SessionID: id, UserID: user, Credits: credits, Amount: amount,
			Currency: currency, CustomerID: customer, Account: account, Livemode: live,
			Reversed: reversed, Pending: pending, OldRefunded: old, OldDisputed: old / 2,
			Money: billing.Money{Floor: floor},
		}
		got, err := encode("k", r, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		if !bytes.Equal(got, want) {
			t.Fatalf("encode:\n got %s\nwant %s", got, want)
		}
		if _, ok := r.appendPlain(nil); ok != (floor == 0 && r.plainStrings()) {
			t.Fatalf("appendPlain took the fast path = %v for %#v", ok, r)
		}
	})
}

// plainStrings is appendPlain's string condition, restated for the test.
func (r Record) plainStrings() bool {
	for _, s := range []string{r.PurchaseID, r.SessionID, r.UserID, r.Currency, r.CustomerID, r.Account, r.Pending} {
		if !plainjson.Is(s) {
			return false
		}
	}
	return true
}

// TestEncodeGrantTakesPlainPath: the record a grant writes (uuid user, Stripe ids,
// Money zero) is written by hand.
func TestEncodeGrantTakesPlainPath(t *testing.T) {
	r := Record{PurchaseID: "cs_test_1", SessionID: "cs_test_1", UserID: "e747de39-1b54-4cd0-96eb-e68f155931e2",
		Credits: 100, Amount: 1999, Currency: "eur", CustomerID: "cus_1", Livemode: true}
	if _, ok := r.appendPlain(nil); !ok {
		t.Fatal("a grant's record did not take the plain path")
	}
	r.Money.Failed = map[string]billing.FailedRefund{}
	if _, ok := r.appendPlain(nil); ok {
		t.Fatal("a record with money facts took the plain path")
	}
}

// TestEncodeCoversEveryField: every field of Record filled, encode writes what
// encoding/json writes; and a Money with any one of its fields set never takes the
// hand-written path, which leaves Money out. A field added to either type without
// teaching appendPlain fails here.
func TestEncodeCoversEveryField(t *testing.T) {
	var r Record
	testkit.FillPlain(&r)
	r.Money = billing.Money{}
	if _, ok := r.appendPlain(nil); !ok {
		t.Fatal("a filled record with plain strings did not take the plain path")
	}
	got, err := encode("k", r, time.Hour)
	want, _ := json.Marshal(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("encode:\n got %s (%v)\nwant %s", got, err, want)
	}
	mt := reflect.TypeOf(billing.Money{})
	for i := 0; i < mt.NumField(); i++ {
		var m billing.Money
		f := reflect.ValueOf(&m).Elem().Field(i)
		switch f.Kind() {
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		default:
			testkit.FillPlain(f.Addr().Interface())
		}
		r.Money = m
		if _, ok := r.appendPlain(nil); ok {
			t.Errorf("a record whose Money.%s is set took the plain path", mt.Field(i).Name)
		}
	}
}
