//go:build !unix

package testkit

import "testing"

// CPUPerOp reports nothing where getrusage does not exist (see cpu.go).
func CPUPerOp(*testing.B) (stop func()) { return func() {} }
