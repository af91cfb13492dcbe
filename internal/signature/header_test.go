package signature

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	sig := stripeV1(event, secretA, now)
	tests := []struct {
		name   string
		header string
		want   error
		wantT  int64
		wantN  int
	}{
		{"stripe header", stripeSigned(event, secretA, now), nil, now.Unix(), 1},
		{"two v1 and a v0", "t=5,v1=" + sig + ",v0=abc,v1=" + sig, nil, 5, 2},
		{"unknown keys and schemes ignored", "t=5,foo=bar,v1=" + sig + ",v2=zzz,x=a=b", nil, 5, 1},
		{"uppercase hex", "t=5,v1=" + strings.ToUpper(sig), nil, 5, 1},
		{"whitespace around items", " t=5 ,\tv1=" + sig + " ", nil, 5, 1},
		{"t zero", "t=0,v1=" + sig, nil, 0, 1},
		{"leading zeros", "t=0005,v1=" + sig, nil, 5, 1},
		{"t max int64", "t=9223372036854775807,v1=" + sig, nil, 9223372036854775807, 1},
		{"bad v1 ignored", "t=5,v1=nothex,v1=" + sig[:62] + ",v1=" + sig, nil, 5, 1},
		{"more than 16 v1 keeps 16", "t=5" + strings.Repeat(",v1="+sig, 20), nil, 5, MaxSignatures},

		{"empty", "", ErrNotSigned, 0, 0},
		{"only whitespace", " \t ", ErrNotSigned, 0, 0},
		{"no t", "v1=" + sig, ErrInvalidHeader, 0, 0},
		{"empty t", "t=,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t not a number", "t=abc,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t negative", "t=-5,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t with plus", "t=+5,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t fraction", "t=5.5,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t overflows", "t=9223372036854775808,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t 20 digits", "t=10000000000000000000,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"t twice", "t=5,t=6,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"no signature at all", "t=5", ErrInvalidHeader, 0, 0},
		{"unknown keys only", "t=5,foo=bar", ErrInvalidHeader, 0, 0},
		{"garbage", "garbage", ErrInvalidHeader, 0, 0},
		{"only commas", ",,,", ErrInvalidHeader, 0, 0},
		{"trailing comma", "t=5,v1=" + sig + ",", ErrInvalidHeader, 0, 0},
		{"item without =", "t=5,v1,v1=" + sig, ErrInvalidHeader, 0, 0},
		{"too long", "t=5,v1=" + sig + ",x=" + strings.Repeat("a", MaxHeaderBytes), ErrInvalidHeader, 0, 0},
		{"v0 only", "t=5,v0=" + sig, ErrNoValidSignature, 0, 0},
		{"v1 not hex", "t=5,v1=" + strings.Repeat("zz", 32), ErrNoValidSignature, 0, 0},
		{"v1 too short", "t=5,v1=" + sig[:62], ErrNoValidSignature, 0, 0},
		{"v1 empty", "t=5,v1=", ErrNoValidSignature, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.header)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("ParseHeader(%.80q) error = %v, want %v", tt.header, err, tt.want)
			}
			if err != nil {
				return
			}
			if h.Timestamp != tt.wantT || len(h.V1()) != tt.wantN {
				t.Errorf("got t=%d and %d v1, want t=%d and %d", h.Timestamp, len(h.V1()), tt.wantT, tt.wantN)
			}
		})
	}
}

func TestParseHeaderLengthBoundary(t *testing.T) {
	valid := stripeSigned(event, secretA, now) + ",x="
	exact := valid + strings.Repeat("a", MaxHeaderBytes-len(valid))
	if _, err := ParseHeader(exact); err != nil {
		t.Errorf("header of exactly MaxHeaderBytes: %v", err)
	}
	if _, err := ParseHeader(exact + "a"); !errors.Is(err, ErrInvalidHeader) {
		t.Errorf("header of MaxHeaderBytes+1: %v, want ErrInvalidHeader", err)
	}
}

func TestParseHeaderDecodesV1(t *testing.T) {
	sig := stripeV1(event, secretA, now)
	h, err := ParseHeader("t=1,v1=" + sig)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.V1()[0]; string(got[:]) != string(mustHex(t, sig)) {
		t.Errorf("v1 decoded as %x, want %s", got, sig)
	}
	if h.Time().Unix() != 1 {
		t.Errorf("Time() = %v", h.Time())
	}
}
