package plainjson

import (
	"encoding/json"
	"testing"
)

// FuzzIs: a string Is calls plain is written by encoding/json between quotes
// unchanged, and one it refuses is not (so the hand-written bytes are always
// encoding/json's, and the fallback is taken only when needed).
func FuzzIs(f *testing.F) {
	for _, s := range []string{"", "cs_test_a1", "a b", "<", ">", "&", `"`, `\`, "\x00", "\x1f", "\x7f", "é", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		unchanged := string(m) == `"`+s+`"`
		// Printable ASCII only: encoding/json keeps valid UTF-8 like "é" as it is,
		// which Is refuses on purpose (one byte rule, no decoding).
		if Is(s) && !unchanged {
			t.Fatalf("Is(%q) but encoding/json writes %s", s, m)
		}
		ascii := true
		for i := 0; i < len(s); i++ {
			ascii = ascii && s[i] >= 0x20 && s[i] < 0x7f
		}
		if ascii && unchanged && !Is(s) {
			t.Fatalf("Is(%q) refuses an ASCII string encoding/json keeps", s)
		}
	})
}

func TestAppenders(t *testing.T) {
	b := String([]byte("{"), "id", "cs_1")
	b = Int(append(b, ','), "n", -42)
	b = append(Bool(append(b, ','), "live", true), '}')
	var v struct {
		ID   string `json:"id"`
		N    int64  `json:"n"`
		Live bool   `json:"live"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID != "cs_1" || v.N != -42 || !v.Live {
		t.Fatalf("%s decodes to %+v, %v", b, v, err)
	}
}
