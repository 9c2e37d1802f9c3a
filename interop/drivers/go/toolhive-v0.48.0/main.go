// The Go driver of the session interop checks over the real toolhive v0.48.0 session stores
// (github.com/stacklok/toolhive pkg/transport/session; the protocol: lib/sessiondriver and
// interop/CONTRACT.md, "Go drivers").
package main

import (
	"context"

	tcredis "github.com/stacklok/toolhive-core/redis"
	"github.com/stacklok/toolhive/pkg/transport/session"

	"crossredis.interop/sessiondriver"
)

func main() {
	o := sessiondriver.Parse()
	cfg := tcredis.Config{Addr: o.Addr, ClusterMode: o.Cluster, Username: o.Username, Password: o.Password}
	ctx := context.Background()
	st, err := session.NewRedisStorage(ctx, cfg, o.Prefix, o.TTL)
	sessiondriver.Ready(err)
	ds, err := session.NewRedisSessionDataStorage(ctx, cfg, o.DataPrefix, o.DataTTL)
	sessiondriver.Ready(err)
	sessiondriver.Serve("github.com/stacklok/toolhive@v0.48.0", st, ds)
}
