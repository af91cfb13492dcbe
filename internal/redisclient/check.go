package redisclient

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one setting of Options that New refuses. Field names the setting as the
// config file does under redis: ("sentinel.master_name", "pool_size"; empty for the
// choice of deployment); the config's validation reports it under that name, so a
// setting has one validator.
type Problem struct {
	Field   string
	Message string
}

// Error is "redisclient: <field in words>: <message>".
func (p Problem) Error() string {
	if p.Field == "" {
		return "redisclient: " + p.Message
	}
	return "redisclient: " + strings.NewReplacer("_", " ", ".", " ").Replace(p.Field) + ": " + p.Message
}

// Check returns the problems of o that New refuses without reading a file or the URL's
// options: the choice of deployment, Sentinel's and Cluster's required settings, and
// the ranges of DB, PoolSize, the timeouts and the TLS client certificate. No message
// quotes a secret.
func Check(o Options) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{field, fmt.Sprintf(format, args...)})
	}
	modes := 0
	for _, on := range []bool{!o.URL.IsZero(), o.Sentinel != nil, len(o.ClusterAddrs) > 0} {
		if on {
			modes++
		}
	}
	switch {
	case modes == 0:
		add("", "set one of url, sentinel or cluster_addrs")
	case modes > 1:
		add("", "set only one of url, sentinel and cluster_addrs")
	}
	if s := o.Sentinel; s != nil {
		if s.MasterName == "" {
			add("sentinel.master_name", "is required")
		}
		if len(s.Addrs) == 0 {
			add("sentinel.addrs", "needs at least one address")
		}
		if slices.Contains(s.Addrs, "") {
			add("sentinel.addrs", "has an empty address")
		}
	}
	if slices.Contains(o.ClusterAddrs, "") {
		add("cluster_addrs", "has an empty address")
	}
	if len(o.ClusterAddrs) > 0 && o.DB != 0 {
		add("db", "must be 0 with cluster_addrs (Redis Cluster has only database 0), got %d", o.DB)
	}
	if o.DB < 0 {
		add("db", "must not be negative, got %d", o.DB)
	}
	if o.PoolSize < 0 || o.PoolSize > MaxPoolSize {
		add("pool_size", "must be between 0 and %d, got %d", MaxPoolSize, o.PoolSize)
	}
	for _, t := range []struct {
		field string
		v     fmt.Stringer
		neg   bool
	}{{"dial_timeout", o.DialTimeout, o.DialTimeout < 0}, {"read_timeout", o.ReadTimeout, o.ReadTimeout < 0}, {"write_timeout", o.WriteTimeout, o.WriteTimeout < 0}} {
		if t.neg {
			add(t.field, "must not be negative, got %s", t.v)
		}
	}
	if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file go together")
	}
	return ps
}
