package event

import (
	"testing"

	"github.com/creditgate/creditgate/internal/testkit"
)

// BenchmarkDecode measures Decode on a realistic ~3 KB checkout.session.completed
// event, the body creditgate decodes on every purchase. Run with -benchmem.
func BenchmarkDecode(b *testing.B) {
	raw := readFixture(b, "checkout_session_completed_paid_2024-06-20.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	stop := testkit.CPUPerOp(b)
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkDecodeThin measures the thin path's own decoding: IsThin (what the server
// tries after Decode refused a body) and DecodeThin on a thin event.
func BenchmarkDecodeThin(b *testing.B) {
	raw := readThin(b, "checkout_session_completed.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if !IsThin(raw) {
			b.Fatal("not thin")
		}
		if _, err := DecodeThin(raw); err != nil {
			b.Fatal(err)
		}
	}
}
