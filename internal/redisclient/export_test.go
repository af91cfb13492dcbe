package redisclient

// Queued reports how many callers wait in b's queue.
func Queued(b *Batch) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
