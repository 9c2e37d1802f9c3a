// Package redisconn stands in for github.com/stacklok/toolhive-core/redisconn, which the Go
// module proxy refuses (403, SPEC.md 2.4), so that the real toolhive v0.66.0 session code builds
// here. Our own code over go-redis, not toolhive-core's: the API is what toolhive v0.66.0 uses of
// the module (pkg/transport/session reads Config.Addr, Config.Password and
// Config.TLS.InsecureSkipVerify and calls NewClient; its other packages set ClusterMode,
// SentinelConfig{MasterName, SentinelAddrs}, Username and DB), and what the interop drivers set:
// a standalone server, a Cluster seed, or a Sentinel set, with ACL user, password, DB and TLS.
// Timeouts are toolhive's defaults (dial 5 s, read 3 s, write 3 s).
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is one deployment: Addr alone (a standalone server), Addr with ClusterMode (a Cluster
// seed), or SentinelConfig (Addr empty).
type Config struct {
	Addr           string
	ClusterMode    bool
	SentinelConfig *SentinelConfig
	Username       string
	Password       string
	DB             int
	TLS            *TLSConfig // nil: plain TCP; for Sentinel it covers the sentinels and the data nodes
}

// SentinelConfig names the master and the sentinels that know it.
type SentinelConfig struct {
	MasterName    string
	SentinelAddrs []string
}

// TLSConfig: TLS 1.2 or later; CACert (PEM) replaces the system roots when set.
type TLSConfig struct {
	InsecureSkipVerify bool
	CACert             []byte
}

const (
	dialTimeout  = 5 * time.Second
	readTimeout  = 3 * time.Second
	writeTimeout = 3 * time.Second
)

// NewClient makes the go-redis client cfg describes and pings it, as toolhive's constructors
// expect (a client that does not answer is closed and not returned).
func NewClient(ctx context.Context, cfg *Config) (redis.UniversalClient, error) {
	if cfg == nil {
		return nil, errors.New("redisconn: nil config")
	}
	t, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	var c redis.UniversalClient
	switch s := cfg.SentinelConfig; {
	case s != nil && (cfg.Addr != "" || cfg.ClusterMode):
		return nil, errors.New("redisconn: a Sentinel configuration excludes Addr and ClusterMode")
	case s != nil && (s.MasterName == "" || len(s.SentinelAddrs) == 0):
		return nil, errors.New("redisconn: Sentinel needs a master name and at least one sentinel address")
	case s != nil:
		c = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, TLSConfig: t,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout})
	case cfg.Addr == "":
		return nil, errors.New("redisconn: Addr (standalone or Cluster seed) or a Sentinel configuration is required")
	case cfg.ClusterMode:
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cfg.Addr}, Username: cfg.Username,
			Password: cfg.Password, TLSConfig: t,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout})
	default:
		c = redis.NewClient(&redis.Options{Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password,
			DB: cfg.DB, TLSConfig: t,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout})
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redisconn: failed to connect: %w", err)
	}
	return c, nil
}

func tlsConfig(c *TLSConfig) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the caller's choice
	if len(c.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CACert) {
			return nil, errors.New("redisconn: TLS.CACert holds no PEM certificate")
		}
		t.RootCAs = pool
	}
	return t, nil
}
