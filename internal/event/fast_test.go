package event

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzDecodeFast holds decodeFast to its promise: whenever it accepts an input,
// encoding/json accepts it too and decodes exactly the same wireEvent. The seeds are
// every fixture (good and broken) and the cases where the fast path must step aside.
func FuzzDecodeFast(f *testing.F) {
	addFixtures(f)
	for _, s := range fastCases {
		f.Add([]byte(s.json))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast wireEvent
		if !decodeFast(raw, &fast) {
			return
		}
		var slow wireEvent
		if err := json.Unmarshal(raw, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, raw)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path differs from encoding/json on %q:\nfast %+v\nslow %+v", raw, fast, slow)
		}
	})
}

// fastCases are inputs on which the fast path must take (true) or leave (false).
var fastCases = []struct {
	json string
	fast bool
}{
	{`{"id":"evt_1","type":"t","data":{"object":{"id":"cs_1","metadata":{"credits":"5","n":1,"x":null,"o":{"a":[1,2]}}}}}`, true},
	{` {"id":"evt_1","type":"t","created":-0,"livemode":null,"object":null,"data":null} `, true},
	{`{"id":"evt_1","object":"event","type":"t","data":{"object":null,"extra":[true,false,null,1.5e-3,"\u00e9\n"]}}`, true},
	{`{"id":"evt_1","type":"t","data":{"object":{"customer":null,"payment_intent":"pi_1","amount_total":null}}}`, true},
	{`{"id":"evt_1","type":"t","data":{"object":{"metadata":{"k":"ünïcödé"}}}}`, true},
	{`{"id":"evt_1","type":"t","data":{"object":{"amount":999,"amount_refunded":null,"refunded":true}}}`, true},
	{`{"id":"evt_1","type":"t","data":{"object":{"amount_refunded":"5"}}}`, false}, // wrong type
	{`{"id":"evt_1","type":"t","data":{"object":{"amount_captured":500,"created":17}}}`, true},
	{`{"id":"evt_1","type":"t","data":{"object":{"created":"17"}}}`, false},                                         // wrong type
	{`{"ID":"evt_1","type":"t","data":{}}`, false},                                                                  // case-insensitive match
	{`{"id":"evt_1","type":"t","data":{"object":{"id":"cs_1","Customer":"cus_1"}}}`, false},                         // case-insensitive match, nested
	{`{"id":"evt_1","type":"t","data":{"object":{"id":"cs_1","a_key_longer_than_any_field_name_at_all":1}}}`, true}, // skipped
	{`{"id":"evt_1","id":"evt_2","type":"t","data":{}}`, false},                                                     // duplicate
	{`{"id":"evt\u005f1","type":"t","data":{}}`, false},                                                             // escape in a kept value
	{`{"i\u0064":"evt_1","type":"t","data":{}}`, false},                                                             // escape in a key
	{`{"id":"evt_1","type":"t","data":{"object":{"customer":{"id":"cus_1"}}}}`, false},                              // expanded
	{`{"id":"evt_1","type":"t","created":1.0,"data":{}}`, false},                                                    // not an integer
	{`{"id":"evt_1","type":"t","created":99999999999999999999,"data":{}}`, false},                                   // overflow
	{`{"id":"evt_1","type":"t","data":{"object":{"amount_total":"9"}}}`, false},                                     // wrong type
	{`{"id":"evt_1","type":"t","data":{}} x`, false},                                                                // trailing data
	{`{"id":"evt_1","type":"t","data":{"a":[1,]}}`, false},                                                          // syntax error
	{`{"id":"evt_1","type":"t","data":{"a":01}}`, false},                                                            // syntax error
	{"{\"id\":\"evt_\xff\",\"type\":\"t\",\"data\":{}}", false},                                                     // invalid UTF-8 kept
	{"{\"id\":\"evt_1\",\"type\":\"t\",\"data\":{\"a\":\"\xff\"}}", true},                                           // invalid UTF-8 skipped
	{`{"id":"evt_1","type":"t","data":{"object":{"metadata":{"ſ":"1","\u00e9":"2"}}}}`, false},
	{`null`, false},
	{`[]`, false},
	{``, false},
}

func TestDecodeFastCases(t *testing.T) {
	for _, tc := range fastCases {
		var w wireEvent
		if got := decodeFast([]byte(tc.json), &w); got != tc.fast {
			t.Errorf("decodeFast(%s) = %t, want %t", tc.json, got, tc.fast)
		}
	}
}

// Every good fixture takes the fast path: it is the path real events take.
func TestDecodeFastTakesFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		rel, _ := filepath.Rel("testdata", file)
		var w wireEvent
		if !decodeFast(readFixture(t, rel), &w) && rel != "checkout_session_completed_expanded_customer.json" {
			t.Errorf("%s does not take the fast path", rel)
		}
	}
}

// Every field that encoding/json decodes must be known to the fast path, or the fast
// path would skip it and return a different wireEvent. Adding a field to wireEvent,
// wireData or wireObject without teaching decodeFast fails here.
func TestDecodeFastKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		names []string
	}{
		{reflect.TypeFor[wireEvent](), eventNames.names},
		{reflect.TypeFor[wireData](), dataNames.names},
		{reflect.TypeFor[wireObject](), objectNames.names},
	} {
		var tags []string
		for f := range tc.typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			tags = append(tags, tag)
		}
		if !slices.Equal(tags, tc.names) {
			t.Errorf("%s: json fields %q, fast path names %q (same order, please)", tc.typ.Name(), tags, tc.names)
		}
	}
}
