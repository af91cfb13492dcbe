package testkit

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// handedOut remembers every address PickAddr returned in this process.
var handedOut struct {
	mu    sync.Mutex
	ports map[int]bool
}

// PickAddr returns a 127.0.0.1 address that nothing listened on a moment ago and that
// this process has not been given before. The kernel may hand the same ephemeral port
// out again once its listener closes, so two picks in a row (a server's listen and
// admin_listen) could otherwise be equal: a port seen before stays bound while the
// next one is drawn, which forces a different one.
func PickAddr() (string, error) {
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return ln.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("no fresh loopback port after %d tries", len(held))
}

// FreeAddr is PickAddr for a test: it fails t when no address can be had.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := PickAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
