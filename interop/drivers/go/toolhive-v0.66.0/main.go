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
	o := sessiondriver.Parse()
	cfg := redisconn.Config{Addr: o.Addr, ClusterMode: o.Cluster, Username: o.Username, Password: o.Password}
	ctx := context.Background()
	st, err := session.NewRedisStorage(ctx, cfg, o.Prefix, o.TTL)
	sessiondriver.Ready(err)
	ds, err := session.NewRedisSessionDataStorage(ctx, cfg, o.DataPrefix, o.DataTTL)
	sessiondriver.Ready(err)
	sessiondriver.Serve("github.com/stacklok/toolhive@v0.66.0", st, ds)
}
