package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody: whatever Content-Length announces (nothing, the truth, too little, too
// much), readBody returns exactly the bytes sent, holds from the budget exactly the
// buffer it uses, and the limit still cuts a body that is too large.
func TestReadBody(t *testing.T) {
	const limit = 1 << 12
	for _, size := range []int{0, 1, 511, 512, 3270, initialBuffer, initialBuffer + 1, limit} {
		body := bytes.Repeat([]byte("x"), size)
		for i := range body {
			body[i] = byte('a' + i%26)
		}
		for _, announced := range []int64{-1, int64(size), int64(size) / 2, int64(size) + 100, limit * 10} {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(body)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				budget := NewBodyBudget(1 << 20)
				got, pooled, held, err := readBody(r, budget)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("size %d, announced %d, one byte at a time %t: %d bytes, err %v", size, announced, oneByte, len(got), err)
				}
				if held != int64(cap(got)) || budget.Left() != 1<<20-held {
					t.Errorf("size %d: held %d, buffer %d, budget left %d; want held = buffer = what the budget lost", size, held, cap(got), budget.Left())
				}
				if (pooled == nil) != (size < firstRead) {
					t.Errorf("size %d: pooled buffer taken: %t", size, pooled != nil)
				}
				if pooled != nil {
					putBuffer(pooled)
				}
			}
		}
	}

	rec := httptest.NewRecorder()
	_, _, _, err := readBody(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(strings.Repeat("y", limit+1))), limit), nil)
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) {
		t.Errorf("a body over the limit: err %v, want *http.MaxBytesError", err)
	}
	_, _, _, err = readBody(iotest.ErrReader(io.ErrUnexpectedEOF), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a failing reader: err %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestPutBufferDropsLargeBuffers: a buffer that grew past maxPooled is not kept.
func TestPutBufferDropsLargeBuffers(t *testing.T) {
	big := make([]byte, 0, maxPooled+1)
	putBuffer(&big)
	for range 100 {
		if b := getBuffer(); cap(*b) > maxPooled {
			t.Fatalf("got a pooled buffer of %d bytes", cap(*b))
		}
	}
}

// TestReadBodyGrowsWithBytesReceived: a body announced as 1 MiB that has sent 10
// bytes holds the first read's small buffer only: not the announced size, not even a
// pooled buffer.
func TestReadBodyGrowsWithBytesReceived(t *testing.T) {
	budget := NewBodyBudget(1 << 30)
	// io.ErrNoProgress stands for "the client stopped sending" (a slow body).
	r := io.MultiReader(strings.NewReader("0123456789"), iotest.ErrReader(io.ErrNoProgress))
	_, pooled, held, err := readBody(r, budget)
	if !errors.Is(err, io.ErrNoProgress) || held != firstRead || pooled != nil {
		t.Fatalf("held %d bytes, err %v; want %d (the first read's buffer only) and the reader's error", held, err, firstRead)
	}
}

// TestReadBodyBudget: a body that would take the budget below zero stops with
// errOverloaded, and what it held is reported so the caller can give it back.
func TestReadBodyBudget(t *testing.T) {
	fresh := func() { bodyPool.Put(&[]byte{}) } // next pooled buffer: as small as can be
	budget := NewBodyBudget(initialBuffer * 2)
	fresh()
	_, _, held, err := readBody(strings.NewReader(strings.Repeat("z", initialBuffer*2)), budget)
	if !errors.Is(err, errOverloaded) {
		t.Fatalf("err %v, want errOverloaded", err)
	}
	budget.give(held)
	if budget.Left() != initialBuffer*2 {
		t.Fatalf("budget left %d after giving back, want %d", budget.Left(), initialBuffer*2)
	}
	// Exactly at the budget: fits.
	budget = NewBodyBudget(initialBuffer * 2)
	fresh()
	body, _, held, err := readBody(strings.NewReader(strings.Repeat("z", initialBuffer*2-1)), budget)
	if err != nil || len(body) != initialBuffer*2-1 || budget.Left() != 0 {
		t.Fatalf("a body that fits the budget exactly: %d bytes, held %d, left %d, err %v", len(body), held, budget.Left(), err)
	}
	// An empty budget refuses even the first buffer.
	if _, _, _, err := readBody(strings.NewReader("a"), NewBodyBudget(0)); !errors.Is(err, errOverloaded) {
		t.Fatalf("empty budget: err %v, want errOverloaded", err)
	}
}
