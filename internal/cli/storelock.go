package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/creditgate/creditgate/internal/config"
)

// The in-memory store lives inside one `creditgate serve` process: another process
// (reconcile) cannot see its dedup markers. serve marks its ownership with an
// exclusive lock on "<dead_letter.file>.lock" for as long as it runs, and reconcile
// refuses to run while the lock is held.

// errStoreBusy: another process holds the in-memory store's lock.
var errStoreBusy = errors.New("held by another creditgate process")

// storeLockFile is the lock file of the in-memory store that cfg names.
func storeLockFile(cfg *config.Config) string { return cfg.DeadLetter.File + ".lock" }

// lockMemoryStore takes the in-memory store's lock without waiting. It returns a
// release function (a no-op with Redis, where nothing needs owning), or an error
// wrapping errStoreBusy when another process holds it.
func lockMemoryStore(cfg *config.Config) (release func(), err error) {
	if cfg.Redis.Enabled() {
		return func() {}, nil
	}
	name := storeLockFile(cfg)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := tryLock(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", name, errStoreBusy)
	}
	return func() { _ = f.Close() }, nil // closing the file drops the lock
}

// ownMemoryStore is serve's side: it takes the lock, and only warns when it cannot,
// since a server that refused to start would lose webhooks.
func ownMemoryStore(cfg *config.Config, log *slog.Logger) (release func()) {
	release, err := lockMemoryStore(cfg)
	if err != nil {
		log.Warn("could not lock the in-memory store; `creditgate reconcile` cannot tell that this server owns it", "error", err)
		return func() {}
	}
	return release
}
