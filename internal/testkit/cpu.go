//go:build unix

package testkit

import (
	"syscall"
	"testing"
	"time"
)

// CPUPerOp reports, next to ns/op, the CPU time the whole process (every thread:
// the benchmark, the garbage collector, the runtime) spent per iteration of b's loop,
// as the metric "cpu-ns/op". Wall time also counts the time the benchmark waited for
// a CPU, which on a shared machine is most of its spread; CPU time does not. Call it
// just before the loop and call the function it returns just after.
func CPUPerOp(b *testing.B) (stop func()) {
	b.Helper()
	start := cpuTime(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
