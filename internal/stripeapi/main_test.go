package stripeapi_test

import (
	"os"
	"testing"

	"github.com/creditgate/creditgate/internal/testkit"
)

// TestMain prints a SKIPPED: line for every test that could not run here (testkit.Skip).
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
