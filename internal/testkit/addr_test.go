package testkit

import (
	"net"
	"testing"
)

// TestPickAddrNeverRepeats draws many addresses in a row, each closed at once (the
// kernel tends to hand the same port out again right away), checks that none repeats,
// and that the last one can be listened on.
func TestPickAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	var addr string
	for range 300 {
		addr = FreeAddr(t)
		if seen[addr] {
			t.Fatalf("address %s handed out twice", addr)
		}
		seen[addr] = true
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on picked %s: %v", addr, err)
	}
	ln.Close()
}
