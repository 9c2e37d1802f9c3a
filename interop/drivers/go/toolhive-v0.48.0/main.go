// The Go driver of the session interop checks over the real toolhive v0.48.0 session stores
// (github.com/stacklok/toolhive pkg/transport/session, connected by the real toolhive-core v0.0.43
// redis package; the protocol: lib/sessiondriver and interop/CONTRACT.md, "Go drivers").
package main

import (
	"context"

	tcredis "github.com/stacklok/toolhive-core/redis"
	"github.com/stacklok/toolhive/pkg/transport/session"

	"crossredis.interop/sessiondriver"
)

func main() {
	sessiondriver.Main("toolhive-v0.48.0", open)
}

// config: toolhive-core's Config offers a standalone Addr, one Cluster seed (Addr with
// ClusterMode) or a Sentinel set; TLS is separate for the sentinels.
func config(t sessiondriver.Target) tcredis.Config {
	c := tcredis.Config{Username: t.Username, Password: t.Password, DB: t.DB}
	if t.TLS {
		c.TLS = &tcredis.TLSConfig{}
	}
	switch t.Kind {
	case "sentinel":
		c.SentinelConfig = &tcredis.SentinelConfig{MasterName: t.Master, SentinelAddrs: t.Addrs}
		c.SentinelTLS = c.TLS
	default:
		c.Addr, c.ClusterMode = t.Addrs[0], t.Kind == "cluster"
	}
	return c
}

func open(ctx context.Context, o sessiondriver.Options) (sessiondriver.Storage, sessiondriver.DataStorage, error) {
	return sessiondriver.Open(ctx, o, config(o.Target), session.NewRedisStorage, session.NewRedisSessionDataStorage)
}
