// The Go driver of the session interop checks over the real toolhive v0.66.0 session stores,
// ownership operations included (github.com/stacklok/toolhive pkg/transport/session; built with
// Go 1.27, its toolhive-core/redisconn module replaced by lib/redisconn, toolhive-core pinned to
// v0.0.59: SPEC.md 2.4; the protocol: lib/sessiondriver and interop/CONTRACT.md, "Go drivers").
package main

import (
	"context"

	"github.com/stacklok/toolhive-core/redisconn"
	"github.com/stacklok/toolhive/pkg/transport/session"

	"crossredis.interop/sessiondriver"
)

func main() {
	sessiondriver.Main("toolhive-v0.66.0", open)
}

// config: redisconn's Config (lib/redisconn) offers a standalone Addr, one Cluster seed (Addr
// with ClusterMode) or a Sentinel set, as toolhive-core's did up to v0.0.43.
func config(t sessiondriver.Target) redisconn.Config {
	c := redisconn.Config{Username: t.Username, Password: t.Password, DB: t.DB}
	if t.TLS {
		c.TLS = &redisconn.TLSConfig{}
	}
	switch t.Kind {
	case "sentinel":
		c.SentinelConfig = &redisconn.SentinelConfig{MasterName: t.Master, SentinelAddrs: t.Addrs}
	default:
		c.Addr, c.ClusterMode = t.Addrs[0], t.Kind == "cluster"
	}
	return c
}

func open(ctx context.Context, o sessiondriver.Options) (sessiondriver.Storage, sessiondriver.DataStorage, error) {
	return sessiondriver.Open(ctx, o, config(o.Target), session.NewRedisStorage, session.NewRedisSessionDataStorage)
}
