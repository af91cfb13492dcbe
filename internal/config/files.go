package config

import "path/filepath"

// Files returns every file a config loaded from path depends on: the file itself and
// each *_file it names (secrets, keys, Redis TLS material), resolved as Load resolves
// them. A change to any of them is a change of the configuration; `serve` watches
// them for its hot reload. The dead-letter file is data, not configuration, and is
// not listed.
func (c *Config) Files(path string) []string {
	dir := filepath.Dir(path)
	out := []string{path}
	add := func(names ...string) {
		for _, n := range names {
			if n != "" {
				out = append(out, resolve(dir, n))
			}
		}
	}
	add(c.Redis.URLFile, c.Redis.PasswordFile)
	// The Redis TLS files are opened by the Redis client as written (not resolved).
	for _, n := range []string{c.Redis.TLS.CAFile, c.Redis.TLS.CertFile, c.Redis.TLS.KeyFile} {
		if n != "" {
			out = append(out, n)
		}
	}
	if s := c.Redis.Sentinel; s != nil {
		add(s.PasswordFile)
	}
	for _, r := range c.Routes {
		add(r.Stripe.SigningSecretsFile, r.Stripe.APIKeyFile, r.Forward.SigningKeysFile)
	}
	return out
}
