package redisclient

import "time"

// Queued reports how many callers wait in b's queue.
func Queued(b *Batch) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// SetPatience sets how long b's Patient calls wait for company.
func SetPatience(b *Batch, d time.Duration) { b.patience = d }
