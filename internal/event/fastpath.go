//go:build !creditgate_stdjson

package event

// fastPath turns decodeFast on. Building with -tags creditgate_stdjson turns it off,
// so that Decode is encoding/json alone: the A/B of docs/benchmarks.md ("The event
// decoder"), and the tests run against the fallback path.
const fastPath = true
