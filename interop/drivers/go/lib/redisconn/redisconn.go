// Package redisconn stands in for github.com/stacklok/toolhive-core/redisconn, which the Go
// module proxy refuses (403, SPEC.md 2.4), so that the real toolhive v0.66.0 session code builds
// here: only what pkg/transport/session uses (Config with Addr, Username, Password, DB,
// ClusterMode and TLS; NewClient). Our own code over go-redis, not toolhive-core's.
package redisconn

import (
	"context"
	"crypto/tls"

	"github.com/redis/go-redis/v9"
)

// TLSConfig: what toolhive's session code reads of it.
type TLSConfig struct {
	InsecureSkipVerify bool
}

// Config: a standalone address or a Cluster seed.
type Config struct {
	Addr        string
	ClusterMode bool
	Username    string
	Password    string
	DB          int
	TLS         *TLSConfig
}

// NewClient makes a go-redis client from cfg and pings it, as toolhive's constructors expect.
func NewClient(ctx context.Context, cfg *Config) (redis.UniversalClient, error) {
	var t *tls.Config
	if cfg.TLS != nil {
		t = &tls.Config{InsecureSkipVerify: cfg.TLS.InsecureSkipVerify} //nolint:gosec // the caller's choice
	}
	var c redis.UniversalClient
	if cfg.ClusterMode {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cfg.Addr}, Username: cfg.Username,
			Password: cfg.Password, TLSConfig: t})
	} else {
		c = redis.NewClient(&redis.Options{Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
			TLSConfig: t})
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}
