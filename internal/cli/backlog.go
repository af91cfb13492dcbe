package cli

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/metrics"
)

// Bounds of the dead-letter count a scrape triggers: at most one read of the list
// every backlogMaxAge (however many Prometheus servers scrape), each within
// backlogTimeout. A failed read keeps the last counts.
const (
	backlogMaxAge  = 2 * time.Second
	backlogTimeout = time.Second
)

// backlog is the admin listener's Gatherer: it brings creditgate_dead_letters up to
// date from the dead-letter list, then gathers the registry.
type backlog struct {
	reg    *prometheus.Registry
	m      *metrics.Metrics
	list   deadletter.List
	routes func() []string
	log    *slog.Logger

	mu     sync.Mutex
	at     time.Time // last successful count
	failed bool      // the last count failed (logged once per change)
}

var _ prometheus.Gatherer = (*backlog)(nil)

func (b *backlog) Gather() ([]*dto.MetricFamily, error) {
	b.refresh()
	return b.reg.Gather()
}

func (b *backlog) refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() && time.Since(b.at) < backlogMaxAge {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	counts, err := b.count(ctx)
	if err != nil {
		if !b.failed {
			b.log.Warn("cannot count the dead-letter list; creditgate_dead_letters keeps its last values", "error", err)
		}
		b.failed = true
		return
	}
	if b.failed {
		b.log.Info("counting the dead-letter list again")
	}
	b.failed, b.at = false, time.Now()
	b.m.SetDeadLetters(b.routes(), counts)
}

// count counts the list per route and reason: from Redis's index, without the
// payloads, or by reading the whole list (the file, local and small).
func (b *backlog) count(ctx context.Context) (map[string]map[string]int, error) {
	if c, ok := b.list.(deadletter.Counter); ok {
		return c.Counts(ctx)
	}
	entries, err := b.list.List(ctx)
	if err != nil {
		return nil, err
	}
	return deadletter.Count(entries), nil
}
