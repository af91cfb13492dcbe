//go:build creditgate_stdjson

package event

// fastPath is off in this build: Decode is encoding/json alone (see fastpath.go).
const fastPath = false
