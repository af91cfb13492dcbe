package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/server"
)

// DefaultWatchInterval is how often `serve` looks at the config file and every file
// it names for a change (serve --watch-interval; 0 turns watching off, SIGHUP still
// reloads). Kubernetes replaces a mounted ConfigMap or Secret by swapping a symlink;
// comparing content hashes sees that without a file-notification library.
const DefaultWatchInterval = 2 * time.Second

// reloader is serve's hot reload: on SIGHUP or a changed file it loads the config
// again, validates it, compiles its routes and swaps the webhook handler in one step.
// A config that does not load or compile is refused and the running one keeps
// serving. Settings that only take effect at start (listeners, store, dedup,
// dead-letter file, shutdown grace) keep their running values, and the reload says
// that they need a restart.
type reloader struct {
	path    string
	getenv  func(string) string
	a       *app
	level   *slog.LevelVar
	sw      *server.Switch
	handler func(*config.Config, *routeSet) http.Handler

	mu      sync.Mutex
	started *config.Config // the config serve started with: what the non-live settings are
	cfg     *config.Config // the config serving now
	files   []string       // what cfg depends on (config.Files)
	sum     string         // fingerprint of files when they were last read
}

func newReloader(path string, getenv func(string) string, a *app, level *slog.LevelVar, handler func(*config.Config, *routeSet) http.Handler) *reloader {
	r := &reloader{path: path, getenv: getenv, a: a, level: level, handler: handler, started: a.cfg, cfg: a.cfg}
	r.files = a.cfg.Files(path)
	r.sum = fingerprint(r.files)
	r.sw = server.NewSwitch(handler(a.cfg, &routeSet{routes: a.routes, byName: a.byName, apis: a.apis}))
	return r
}

// watch reloads on every value from hup and, every interval (0: never), when a
// watched file changed, until ctx is done.
func (r *reloader) watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("sighup")
		case <-tick:
			if r.changed() {
				r.reload("file_changed")
			}
		}
	}
}

func (r *reloader) changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fingerprint(r.files) != r.sum
}

// routeNames are the names of the routes serving now.
func (r *reloader) routeNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.cfg.Routes))
	for _, rc := range r.cfg.Routes {
		names = append(names, rc.Name)
	}
	return names
}

// reload loads, validates and swaps in the config; it reports whether it did.
func (r *reloader) reload(trigger string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	log, m := r.a.log, r.a.metrics
	// The fingerprint is taken before reading: a file that changes while the config
	// loads is seen as changed again at the next look.
	r.sum = fingerprint(r.files)
	cfg, err := config.Load(r.path, r.getenv)
	var rs *routeSet
	if err == nil {
		rs, err = r.a.compile(cfg)
	}
	if err != nil {
		m.ConfigReloadOK.Set(0)
		m.ConfigReloads.WithLabelValues("failure").Inc()
		log.Error("config reload refused; the running config keeps serving",
			"trigger", trigger, "config", r.path, "problems", problemLines(err))
		return false
	}
	restart := needsRestart(r.started, cfg)
	_ = r.level.UnmarshalText([]byte(cfg.LogLevel))
	r.sw.Swap(r.handler(cfg, rs))
	r.cfg = cfg
	if files := cfg.Files(r.path); !slices.Equal(files, r.files) {
		r.files, r.sum = files, fingerprint(files)
	}
	r.a.use(rs)
	m.ConfigReloadOK.Set(1)
	m.ConfigReloadAt.SetToCurrentTime()
	m.ConfigReloads.WithLabelValues("success").Inc()
	log.Info("config reloaded", "trigger", trigger, "config", r.path, "routes", routeList(cfg))
	for _, s := range restart {
		log.Warn("config reload: setting changed but takes effect only after a restart; the running value stays",
			"setting", s)
	}
	return true
}

// needsRestart names the settings that differ between old and new and cannot change
// while serving.
func needsRestart(old, new *config.Config) []string {
	var out []string
	for _, s := range []struct {
		name     string
		old, new any
	}{
		{"listen", old.Listen, new.Listen},
		{"admin_listen", old.AdminListen, new.AdminListen},
		{"shutdown_timeout", old.ShutdownTimeout, new.ShutdownTimeout},
		{"log_flush_interval", old.LogFlushInterval, new.LogFlushInterval},
		{"redis", old.Redis, new.Redis},
		{"dedup", old.Dedup, new.Dedup},
		{"dead_letter", old.DeadLetter, new.DeadLetter},
		{"max_connections", old.MaxConnections, new.MaxConnections},
		{"admin_max_connections", old.AdminMaxConnections, new.AdminMaxConnections},
		{"max_inflight_body_bytes", old.MaxInflightBodyBytes, new.MaxInflightBodyBytes},
		{"watch", old.Watch, new.Watch},
	} {
		if !reflect.DeepEqual(s.old, s.new) {
			out = append(out, s.name)
		}
	}
	return out
}

// fingerprint hashes the names and contents of files; a file that cannot be read
// counts as its error, so its appearing later is a change too.
func fingerprint(files []string) string {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(h, "%s\x00error\x00%v\x00", f, err)
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
