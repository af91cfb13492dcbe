package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/creditgate/creditgate/internal/secret"
)

// DefaultPath of the config file.
const DefaultFile = "/etc/creditgate/config.yaml"

// Load reads, expands, strictly decodes, defaults and validates the file at path.
// getenv resolves ${NAME} (nil means os.Getenv). The error, when not nil, joins every
// problem found (errors.Join), one per line, none of them quoting a secret.
// A Config is returned only when there is no problem at all.
func Load(path string, getenv func(string) string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, filepath.Dir(path), getenv)
}

// Parse is Load for bytes already read; relative *_file paths are resolved against dir.
func Parse(raw []byte, dir string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	if root.Kind == 0 {
		return nil, errors.New("config is empty")
	}
	var problems []error
	x := &expander{getenv: getenv, values: map[string]string{}}
	x.node(&root, &problems)
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("config: re-encode after expansion: %w", err)
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("config: %w", err)
		}
		for _, e := range te.Errors {
			problems = append(problems, errors.New(strings.TrimPrefix(e, "yaml: ")))
		}
	}
	problems = append(problems, cfg.readFiles(dir)...)
	cfg.ApplyDefaults()
	// The dead-letter file is found like every other file the config names: a
	// relative path is relative to the config's folder, so `dlq list` run from
	// anywhere reads the file `serve` writes.
	cfg.DeadLetter.File = resolve(dir, cfg.DeadLetter.File)
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, x.redact(errors.Join(problems...))
	}
	return cfg, nil
}

// expander replaces ${NAME} and ${NAME:-default} in every scalar value (never in
// keys, never re-parsed as YAML, so a variable cannot inject structure). "$${" is a
// literal "${". An unset variable expands to "" like in a shell; required values are
// caught by Validate. It remembers what each variable expanded to, so that no problem
// message ever quotes a value that came from the environment: a secret in the wrong
// field (REDIS_URL in listen:) must not end up in a log.
type expander struct {
	getenv func(string) string
	values map[string]string // expanded value → the ${...} it came from
}

func (x *expander) node(n *yaml.Node, problems *[]error) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			x.node(c, problems)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			x.node(n.Content[i], problems)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		orig := n.Value
		v, err := expand(orig, x.getenv)
		if err != nil {
			*problems = append(*problems, fmt.Errorf("line %d: %w", n.Line, err))
			return
		}
		if v != orig && v != "" {
			x.values[v] = orig
		}
		n.Value = v
		// Let the decoder resolve the expanded text as if it had been written there,
		// so `max_credits: ${MAX}` is still an integer; quoting stays a string.
		n.Tag = ""
	}
}

// redact rewrites every problem so that an expanded value appears as the ${...}
// expression that produced it.
func (x *expander) redact(err error) error {
	if len(x.values) == 0 {
		return err
	}
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		for v, expr := range x.values {
			line = strings.ReplaceAll(line, strconv.Quote(v), expr)
			if len(v) >= 4 {
				line = strings.ReplaceAll(line, v, expr)
			}
		}
		out = append(out, errors.New(line))
	}
	return errors.Join(out...)
}

func expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${" → literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${ in value")
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${...}", name)
		}
		v := getenv(name)
		if v == "" && hasDef {
			v = def
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// readFiles loads every *_file secret. A file named in the config must exist.
func (c *Config) readFiles(dir string) []error {
	var problems []error
	one := func(field, path string, dst *secret.Secret) {
		if path == "" {
			return
		}
		if !dst.IsZero() {
			problems = append(problems, fmt.Errorf("%s: set both the value and the file; keep one", field))
			return
		}
		vals, err := readSecretFile(resolve(dir, path))
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", field, err))
			return
		}
		if len(vals) != 1 {
			problems = append(problems, fmt.Errorf("%s: %s must hold exactly one value, found %d", field, path, len(vals)))
			return
		}
		*dst = vals[0]
	}
	many := func(field, path string, dst *[]secret.Secret) {
		if path == "" {
			return
		}
		vals, err := readSecretFile(resolve(dir, path))
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", field, err))
			return
		}
		*dst = append(*dst, vals...)
	}
	one("redis.url_file", c.Redis.URLFile, &c.Redis.URL)
	one("redis.password_file", c.Redis.PasswordFile, &c.Redis.Password)
	if s := c.Redis.Sentinel; s != nil {
		one("redis.sentinel.password_file", s.PasswordFile, &s.Password)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		many(p+".stripe.signing_secrets_file", r.Stripe.SigningSecretsFile, &r.Stripe.SigningSecrets)
		one(p+".stripe.api_key_file", r.Stripe.APIKeyFile, &r.Stripe.APIKey)
		many(p+".forward.signing_keys_file", r.Forward.SigningKeysFile, &r.Forward.SigningKeys)
	}
	return problems
}

func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// readSecretFile returns the non-empty, non-comment lines of a file, trimmed. A file
// with one value and a trailing newline (how Kubernetes Secrets usually look) works.
func readSecretFile(path string) ([]secret.Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read secret file: %w", err)
	}
	defer f.Close()
	var out []secret.Secret
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, secret.New(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read secret file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", path)
	}
	return out, nil
}
