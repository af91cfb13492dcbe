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
// much), readBody returns exactly the bytes sent, and the limit still cuts a body
// that is too large.
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
				buf := getBuffer()
				got, err := readBody(r, announced, limit, buf)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("size %d, announced %d, one byte at a time %t: %d bytes, err %v", size, announced, oneByte, len(got), err)
				}
				putBuffer(buf)
			}
		}
	}

	rec := httptest.NewRecorder()
	buf := getBuffer()
	defer putBuffer(buf)
	_, err := readBody(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(strings.Repeat("y", limit+1))), limit), limit+1, limit, buf)
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) {
		t.Errorf("a body over the limit: err %v, want *http.MaxBytesError", err)
	}
	_, err = readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10, limit, buf)
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
