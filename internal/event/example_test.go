package event_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/creditgate/creditgate/internal/event"
)

func ExampleDecode() {
	raw, err := os.ReadFile("testdata/checkout_session_completed_paid_2020-08-27.json")
	if err != nil {
		panic(err)
	}
	v, err := event.Decode(raw) // raw is the body whose Stripe-Signature was verified
	if err != nil {
		panic(err)
	}
	fmt.Println(v.ID, v.Type, v.APIVersion)
	fmt.Println(v.Object.ID[:10], v.Object.PaymentStatus, v.Object.AmountTotal, v.Object.Currency)
	fmt.Println(v.Object.Metadata["user_id"], v.Object.Metadata["credits"])

	_, err = event.Decode([]byte(`{"id": 5}`))
	fmt.Println(errors.Is(err, event.ErrMalformed), err)
	// Output:
	// evt_1VB8sKliP855QDHqPdtPe6eQ checkout.session.completed 2020-08-27
	// cs_test_a1 paid 999 eur
	// e747de39-1b54-4cd0-96eb-e68f155931e2 100
	// true not a stripe event: id: got JSON number, want string
}
