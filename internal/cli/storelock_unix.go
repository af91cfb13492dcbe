//go:build unix

package cli

import (
	"os"
	"syscall"
)

// tryLock takes an exclusive flock on f without waiting; the kernel drops it when
// the process exits, so a crashed server leaves no stale lock.
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
