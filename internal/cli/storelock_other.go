//go:build !unix

package cli

import "os"

// tryLock always succeeds where flock is not available: ownership is not tracked.
func tryLock(*os.File) error { return nil }
