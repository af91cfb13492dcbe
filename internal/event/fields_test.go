package event

import (
	"reflect"
	"strings"
	"testing"
)

// withObject is a minimal event around a data.object given as JSON.
func withObject(object string) []byte {
	return []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":` + object + `}}`)
}

func TestDecodeExpandableIDs(t *testing.T) {
	tests := []struct {
		name, customer, paymentIntent string // JSON values
		wantCustomer, wantPI          string
	}{
		{"strings", `"cus_1"`, `"pi_1"`, "cus_1", "pi_1"},
		{"null", `null`, `null`, "", ""},
		{"absent", ``, ``, "", ""},
		{"expanded", `{"id":"cus_2","object":"customer","metadata":{"a":"b"},"address":null}`,
			`{"object":"payment_intent","amount":1,"id":"pi_2","charges":{"data":[{"id":"ch_1"}]}}`, "cus_2", "pi_2"},
		{"expanded with null fields only", `{"id":"cus_3","deleted":true}`, `{"id":"pi_3"}`, "cus_3", "pi_3"},
		{"escaped string", `"cus_\u0041"`, `"pi_\/1"`, "cus_A", "pi_/1"},
		{"empty string", `""`, `""`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := []string{`"id":"cs_1"`}
			if tt.customer != "" {
				fields = append(fields, `"customer":`+tt.customer)
			}
			if tt.paymentIntent != "" {
				fields = append(fields, `"payment_intent":`+tt.paymentIntent)
			}
			v, err := Decode(withObject("{" + strings.Join(fields, ",") + "}"))
			if err != nil {
				t.Fatal(err)
			}
			if v.Object.Customer != tt.wantCustomer || v.Object.PaymentIntent != tt.wantPI {
				t.Errorf("Customer, PaymentIntent = %q, %q, want %q, %q",
					v.Object.Customer, v.Object.PaymentIntent, tt.wantCustomer, tt.wantPI)
			}
		})
	}
}

func TestDecodeMetadata(t *testing.T) {
	tests := []struct {
		name, metadata string
		want           map[string]string
	}{
		{"absent", ``, nil},
		{"null", `null`, nil},
		{"empty", `{}`, nil},
		{"strings", `{"user_id":"u1","credits":"100"}`, map[string]string{"user_id": "u1", "credits": "100"}},
		{"non-string values dropped",
			`{"credits":100,"user_id":"u1","vip":true,"tags":["a"],"nested":{"a":"b"},"gone":null,"f":1.5e300}`,
			map[string]string{"user_id": "u1"}},
		{"only non-string values", `{"credits":100}`, nil},
		{"empty string kept", `{"note":""}`, map[string]string{"note": ""}},
		{"unicode", `{"name":"Jürgen 日本 🎉","esc":"\u00fc\ud83c\udf89\n"}`,
			map[string]string{"name": "Jürgen 日本 🎉", "esc": "ü🎉\n"}},
		{"invalid UTF-8 replaced", "{\"bad\":\"a\xffb\xc3\",\"k\xfe\":\"v\"}",
			map[string]string{"bad": "a\uFFFDb\uFFFD", "k\uFFFD": "v"}},
		{"lone surrogate replaced", `{"s":"\ud800x"}`, map[string]string{"s": "\uFFFDx"}},
		{"duplicate key, last wins", `{"credits":"1","credits":"2"}`, map[string]string{"credits": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := `{"id":"cs_1"}`
			if tt.metadata != "" {
				obj = `{"id":"cs_1","metadata":` + tt.metadata + `}`
			}
			v, err := Decode(withObject(obj))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.Object.Metadata, tt.want) {
				t.Errorf("Metadata = %#v, want %#v", v.Object.Metadata, tt.want)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want View
	}{
		{"minimal", `{"id":"evt_1","type":"x","data":{"object":{}}}`,
			View{ID: "evt_1", Type: "x"}},
		{"object null", `{"id":"evt_1","object":null,"type":"x","data":{"object":{}}}`,
			View{ID: "evt_1", Type: "x"}},
		{"nulls everywhere",
			`{"id":"evt_1","type":"x","api_version":null,"created":null,"livemode":null,"account":null,` +
				`"data":{"object":{"id":null,"object":null,"amount_total":null,"currency":null,"status":null}}}`,
			View{ID: "evt_1", Type: "x"}},
		{"unknown fields and padding",
			" \r\n\t{\"context\":\"acct_9\",\"id\":\"evt_1\",\"type\":\"x\",\"x\":[1,{\"y\":null}],\"data\":{\"previous_attributes\":{},\"object\":{\"z\":1}}}\n ",
			View{ID: "evt_1", Type: "x"}},
		{"new style api version", `{"id":"evt_1","type":"x","api_version":"2026-03-25.dahlia","created":1774483200,"livemode":true,"account":"acct_1","data":{"object":{"amount_total":-5}}}`,
			View{ID: "evt_1", Type: "x", APIVersion: "2026-03-25.dahlia", Created: 1774483200, Livemode: true, Account: "acct_1", Object: Object{AmountTotal: -5}}},
		{"api version never validated", `{"id":"evt_1","type":"x","api_version":"not a version \u00e9","data":{"object":{}}}`,
			View{ID: "evt_1", Type: "x", APIVersion: "not a version é"}},
		{"id at the length limit", `{"id":"` + strings.Repeat("a", MaxTokenLen) + `","type":"x","data":{"object":{}}}`,
			View{ID: strings.Repeat("a", MaxTokenLen), Type: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLen+1)
	tests := []struct {
		name, raw, want string
	}{
		{"top-level null", `null`, "top level: got JSON null, want object"},
		{"top-level string", `"evt_1"`, "top level: got JSON string, want object"},
		{"top-level number", ` 42`, "top level: got JSON number, want object"},
		{"white space only", " \n\t", "empty body"},
		{"id null", `{"id":null,"type":"x","data":{"object":{}}}`, "id is missing, null or empty"},
		{"id empty", `{"id":"","type":"x","data":{"object":{}}}`, "id is missing, null or empty"},
		{"id too long", `{"id":"` + long + `","type":"x","data":{"object":{}}}`, "id is 256 bytes long, want at most 255"},
		{"id with space", `{"id":"evt 1","type":"x","data":{"object":{}}}`, "id has byte 0x20 at offset 3"},
		{"id with newline", `{"id":"evt_1\n","type":"x","data":{"object":{}}}`, "id has byte 0x0a at offset 5"},
		{"id not ASCII", `{"id":"évt","type":"x","data":{"object":{}}}`, "id has byte 0xc3 at offset 0"},
		{"type number", `{"id":"evt_1","type":1,"data":{"object":{}}}`, "type: got JSON number, want string"},
		{"type too long", `{"id":"evt_1","type":"` + long + `","data":{"object":{}}}`, "type is 256 bytes long"},
		{"object not event", `{"id":"evt_1","object":"v2.core.event","type":"x","data":{"object":{}}}`, `object is "v2.core.event", want "event"`},
		{"object empty", `{"id":"evt_1","object":"","type":"x","data":{"object":{}}}`, `object is "", want "event"`},
		{"object long", `{"id":"evt_1","object":"` + long + `","type":"x","data":{"object":{}}}`, `(256 bytes), want "event"`},
		{"object number", `{"id":"evt_1","object":1,"type":"x","data":{"object":{}}}`, "object: got JSON number, want string"},
		{"data missing", `{"id":"evt_1","type":"x"}`, "data is missing or null"},
		{"data null", `{"id":"evt_1","type":"x","data":null}`, "data is missing or null"},
		{"data string", `{"id":"evt_1","type":"x","data":"cs_1"}`, "data: got JSON string, want object"},
		{"data.object missing", `{"id":"evt_1","type":"x","data":{}}`, "data.object is missing or null"},
		{"data.object array", `{"id":"evt_1","type":"x","data":{"object":[]}}`, "data.object: got JSON array, want object"},
		{"created string", `{"id":"evt_1","type":"x","created":"1","data":{"object":{}}}`, "created: got JSON string, want integer"},
		{"created float", `{"id":"evt_1","type":"x","created":1.5,"data":{"object":{}}}`, "created: got JSON number that is not a 64-bit integer, want integer"},
		{"created exponent", `{"id":"evt_1","type":"x","created":17e8,"data":{"object":{}}}`, "created: got JSON number that is not a 64-bit integer"},
		{"created overflow", `{"id":"evt_1","type":"x","created":` + strings.Repeat("9", 5000) + `,"data":{"object":{}}}`, "created: got JSON number that is not a 64-bit integer"},
		{"livemode string", `{"id":"evt_1","type":"x","livemode":"false","data":{"object":{}}}`, "livemode: got JSON string, want boolean"},
		{"account number", `{"id":"evt_1","type":"x","account":7,"data":{"object":{}}}`, "account: got JSON number, want string"},
		{"account with space", `{"id":"evt_1","type":"x","account":"acct 1","data":{"object":{}}}`, "account has byte 0x20"},
		{"api_version number", `{"id":"evt_1","type":"x","api_version":20240620,"data":{"object":{}}}`, "api_version: got JSON number, want string"},
		{"object id too long", string(withObject(`{"id":"` + long + `"}`)), "data.object.id is 256 bytes long"},
		{"amount_total string", string(withObject(`{"amount_total":"999"}`)), "data.object.amount_total: got JSON string, want integer"},
		{"metadata array", string(withObject(`{"metadata":["a"]}`)), "data.object.metadata: got JSON array, want object"},
		{"metadata string", string(withObject(`{"metadata":"credits=1"}`)), "data.object.metadata: got JSON string, want object"},
		{"customer number", string(withObject(`{"customer":5}`)), "data.object.customer: got JSON number, want a string id, an object with an id, or null"},
		{"customer bool", string(withObject(`{"customer":true}`)), "data.object.customer: got JSON bool"},
		{"customer array", string(withObject(`{"customer":["cus_1"]}`)), "data.object.customer: got JSON array"},
		{"customer object without id", string(withObject(`{"customer":{"object":"customer"}}`)), "data.object.customer: got JSON object without an id"},
		{"customer object with null id", string(withObject(`{"customer":{"id":null}}`)), "data.object.customer: got JSON object without an id"},
		{"customer object id number", string(withObject(`{"customer":{"id":5}}`)), "data.object.customer.id: got JSON number, want string"},
		{"customer with space", string(withObject(`{"customer":"cus 1"}`)), "data.object.customer has byte 0x20"},
		{"payment_intent number", string(withObject(`{"payment_intent":1}`)), "data.object.payment_intent: got JSON number"},
		{"payment_intent too long", string(withObject(`{"payment_intent":{"id":"` + long + `"}}`)), "data.object.payment_intent is 256 bytes long"},
		{"two objects", `{"id":"evt_1","type":"x","data":{"object":{}}}{"id":"evt_2"}`, "invalid character '{' after top-level value"},
		{"deep nesting", `{"id":"evt_1","type":"x","data":{"object":{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}}`, "exceeded max depth"},
		{"NUL byte", "{\"id\":\"evt_1\"\x00}", "invalid JSON at byte 14 of 15: invalid character '\\x00' after object key:value pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.raw))
			checkMalformed(t, v, err, tt.want)
		})
	}
}
