package cli

import (
	"context"
	"sync"

	"github.com/creditgate/creditgate/internal/watch"
)

// startWatch starts the Stripe watch (package watch) for every route with an API key,
// unless watch.disabled; stop cancels it and waits for it to end.
func (a *app) startWatch(ctx context.Context) (stop func(), err error) {
	var targets []watch.Target
	for _, rc := range a.cfg.Routes {
		api := a.apis[rc.Name]
		if api == nil || a.cfg.Watch.Disabled {
			continue
		}
		t := watch.Target{Route: rc.Name, Path: rc.Path, PublicURL: a.cfg.Watch.PublicURL,
			EndpointID: rc.Stripe.WebhookEndpoint, Events: rc.Events, Accounts: []string{""}, API: api}
		if rc.Connect {
			t.Accounts = rc.ConnectAccounts // nil without an allow-list: not counted
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return func() {}, nil
	}
	w, err := watch.New(a.registry, watch.Options{Interval: a.cfg.Watch.Interval, Window: a.cfg.Watch.Window, Logger: a.log}, targets)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.Run(ctx)
	}()
	return func() { cancel(); wg.Wait() }, nil
}
