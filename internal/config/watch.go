package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/creditgate/creditgate/internal/watch"
)

// Watch configures the background check of each route's Stripe webhook endpoint:
// every route with an API key reads its endpoint (status, URL, enabled events) and
// counts the events Stripe failed to deliver, and exports them as metrics.
type Watch struct {
	// Disabled turns the watch off. Default false: it runs for every route with
	// stripe.api_key_file (the key needs read access to Webhook Endpoints and Events).
	Disabled bool `yaml:"disabled"`
	// Interval is the time between two checks of a route. Default 60s (10s … 1h).
	Interval time.Duration `yaml:"interval"`
	// Window is how far back undelivered events are counted. Default 72h, Stripe's
	// live-mode retry period (1h … 720h).
	Window time.Duration `yaml:"window"`
	// PublicURL is the external origin Stripe posts to (https://payments.example.com).
	// When set, a route's endpoint must have exactly PublicURL + path as its URL; when
	// empty, only the path is compared.
	PublicURL string `yaml:"public_url"`
}

// Defaults of the watch: package watch's.
const (
	DefaultWatchInterval = watch.DefaultInterval
	DefaultWatchWindow   = watch.DefaultWindow
)

func (w *Watch) setDefaults() {
	setDur(&w.Interval, DefaultWatchInterval)
	setDur(&w.Window, DefaultWatchWindow)
}

var webhookEndpointID = regexp.MustCompile(`^we_[A-Za-z0-9]{1,64}$`)

func (c *Config) validateWatch(v *problems) {
	w := c.Watch
	if w.Interval < 10*time.Second || w.Interval > time.Hour {
		v.add("watch.interval", "must be between 10s and 1h, got %s", w.Interval)
	}
	if w.Window < time.Hour || w.Window > 720*time.Hour {
		v.add("watch.window", "must be between 1h and 720h (Stripe keeps events for 30 days), got %s", w.Window)
	}
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.add("watch.public_url", "must be an https:// origin without path, like https://payments.example.com (Stripe posts only to https), got %s", show(w.PublicURL))
		}
	}
	for i, r := range c.Routes {
		if id := r.Stripe.WebhookEndpoint; id != "" && !webhookEndpointID.MatchString(id) {
			v.add(fmt.Sprintf("routes[%d].stripe.webhook_endpoint", i), "must be a webhook endpoint id (we_...), got %s", show(id))
		}
	}
}
