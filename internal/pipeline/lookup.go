package pipeline

import (
	"context"

	"github.com/creditgate/creditgate/internal/stripeapi"
)

// lookup is extract.Lookup for one delivery: it reads the API at most once per kind
// and keeps the answer (or the error) for the rest of the delivery.
type lookup struct {
	api          API
	account      string
	customer     string
	subscription map[string]string
	lines        func(ctx context.Context) ([]stripeapi.Line, error)

	gotLines  bool
	lineCache []stripeapi.Line
	linesErr  error
	gotCus    bool
	cusCache  map[string]string
	cusErr    error
}

func (l *lookup) Lines(ctx context.Context) ([]stripeapi.Line, error) {
	if !l.gotLines {
		l.lineCache, l.linesErr = l.lines(ctx)
		l.gotLines = true
	}
	return l.lineCache, l.linesErr
}

func (l *lookup) SubscriptionMetadata(context.Context) (map[string]string, error) {
	return l.subscription, nil
}

func (l *lookup) CustomerMetadata(ctx context.Context) (map[string]string, error) {
	if l.customer == "" {
		return nil, nil
	}
	if !l.gotCus {
		l.cusCache, l.cusErr = l.api.CustomerMetadata(ctx, l.account, l.customer)
		l.gotCus = true
	}
	return l.cusCache, l.cusErr
}
