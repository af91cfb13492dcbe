package signature_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
)

// The forwarder signs with every forwarding key (two during a rotation); the backend
// verifies with whichever key it has.
func ExampleSign() {
	body := []byte(`{"id":"cs_test_1","type":"credit.granted","credits":100}`)
	keys := []secret.Secret{secret.New("whsec_new"), secret.New("whsec_old")}
	t := time.Unix(1_700_000_000, 0)

	header := signature.Sign(body, keys, t)
	fmt.Println(signature.ForwardHeader + ": " + header)

	backendKey := []secret.Secret{secret.New("whsec_old")}
	fmt.Println(signature.Verify(body, header, backendKey, 0, t.Add(time.Minute)))
	// Output:
	// Creditgate-Signature: t=1700000000,v1=78d440ec08cda03f613d3dc790ce415cc30271ec840049000a410063c7a7b23b,v1=7da4db18fd54e0d64cec36844758d609da1facedab221646036b5a631c8a4521
	// <nil>
}

// A Verifier holds a route's secrets, tolerance and clock. Every failure is one of the
// package's sentinel errors, which the server maps to 400 invalid_signature.
func ExampleVerifier() {
	t := time.Unix(1_700_000_000, 0)
	v := &signature.Verifier{
		Secrets:   []secret.Secret{secret.New("whsec_route")},
		Tolerance: 5 * time.Minute,
		Now:       func() time.Time { return t },
	}
	body := []byte(`{"id":"evt_1"}`)

	fresh := signature.Sign(body, v.Secrets, t.Add(-time.Minute))
	stale := signature.Sign(body, v.Secrets, t.Add(-time.Hour))
	ahead := signature.Sign(body, v.Secrets, t.Add(time.Hour))

	fmt.Println(v.Verify(body, fresh))
	fmt.Println(errors.Is(v.Verify(body, stale), signature.ErrTooOld))
	fmt.Println(errors.Is(v.Verify(body, ahead), signature.ErrTooNew))
	fmt.Println(v.Verify([]byte(`{"id":"evt_2"}`), fresh))
	fmt.Println(v.Verify(body, ""))
	// Output:
	// <nil>
	// true
	// true
	// no v1 signature matches any secret
	// signature header is missing
}
