package extract_test

import (
	"context"
	"testing"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
)

// BenchmarkExtract is extraction and validation of one paid session, with the
// default sources (metadata.user_id wins, no customer-map lookup) and each user id
// format. Run with -benchmem.
func BenchmarkExtract(b *testing.B) {
	obj := event.Object{
		ID: "cs_test_a1cRQHyk0zHbUXs4Zm716LJJzUkcRmWBAThkSjum9LleSSbObfK5w7zn", Object: "checkout.session",
		Customer: "cus_M3gzndZNeqz1fB", PaymentStatus: "paid", AmountTotal: 999, Currency: "eur",
		Metadata: map[string]string{"user_id": "e747de39-1b54-4cd0-96eb-e68f155931e2", "credits": "100"},
	}
	for _, format := range []string{"uuid", "", "regexp:[0-9a-f-]{36}"} {
		name := format
		if name == "" {
			name = "default"
		}
		b.Run(name, func(b *testing.B) {
			x, err := extract.New(config.Extract{
				UserID:       config.DefaultUserIDSources,
				UserIDFormat: format,
				Credits:      config.DefaultCreditsSources,
				MaxCredits:   1_000_000,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Extract(ctx, obj, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
