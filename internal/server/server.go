// Package server is creditgate's HTTP side: the webhook listener (one handler per
// route, routes.go), the admin listener (/healthz, /readyz, /metrics), the canonical
// log line, and graceful shutdown of both under one errgroup.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// Timeouts of the webhook listener. Stripe sends small bodies quickly; anything slower
// is a broken or hostile client.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second // > forward budget + store calls
	IdleTimeout       = 90 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// Serve runs the webhook and admin handlers on their listeners until ctx is done, then
// shuts down gracefully: it stops accepting, lets in-flight webhooks finish for up to
// shutdownTimeout, and then cancels what is left (their claims are released by the
// pipeline, so Stripe's retry is handled cleanly). It returns the first listener error.
func Serve(ctx context.Context, log *slog.Logger, webhookLn, adminLn net.Listener, webhook, admin http.Handler, shutdownTimeout time.Duration) error {
	// Requests get a base context that is cancelled only when the grace period is
	// over, not when the shutdown starts: in-flight forwards get to finish.
	baseCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			ConnContext:       connContext, // LimitListener's eviction
			ConnState:         connState,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	ws, as := newServer(webhook), newServer(admin)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ws, webhookLn) })
	g.Go(func() error { return serve(as, adminLn) })
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "grace", shutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		err := ws.Shutdown(sctx)
		if err != nil {
			log.Warn("in-flight webhooks did not finish within the grace period; cancelling them", "error", err)
			cancelRequests()
			_ = ws.Close()
		}
		// The admin listener goes last so probes answer during the drain.
		actx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel2()
		_ = as.Shutdown(actx)
		return nil
	})
	return g.Wait()
}

func serve(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
