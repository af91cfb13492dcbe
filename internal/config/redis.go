package config

import "github.com/creditgate/creditgate/internal/redisclient"

// ClientOptions are the redisclient.Options of these settings: the one mapping from
// the config file to the Redis client, which serve builds and Validate checks
// (redisclient.Check).
func (r Redis) ClientOptions() redisclient.Options {
	o := redisclient.Options{
		URL: r.URL, Username: r.Username, Password: r.Password, DB: r.DB,
		ClusterAddrs: r.ClusterAddrs,
		TLS: redisclient.TLSOptions{
			Enabled: r.TLS.Enabled, CAFile: r.TLS.CAFile, ServerName: r.TLS.ServerName,
			InsecureSkipVerify: r.TLS.InsecureSkipVerify, CertFile: r.TLS.CertFile, KeyFile: r.TLS.KeyFile,
		},
		DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
		PoolSize: r.PoolSize,
	}
	if s := r.Sentinel; s != nil {
		o.Sentinel = &redisclient.SentinelOptions{MasterName: s.MasterName, Addrs: s.Addrs, Username: s.Username, Password: s.Password}
	}
	return o
}
