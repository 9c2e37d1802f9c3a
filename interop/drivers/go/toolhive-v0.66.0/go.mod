module crossredis.interop/toolhive-v0.66.0

go 1.27

require (
	crossredis.interop/sessiondriver v0.0.0
	github.com/stacklok/toolhive v0.66.0
	github.com/stacklok/toolhive-core/redisconn v0.0.60
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/stacklok/toolhive-core v0.0.60 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace (
	crossredis.interop/sessiondriver => ../lib/sessiondriver
	github.com/stacklok/toolhive-core => github.com/stacklok/toolhive-core v0.0.59
	github.com/stacklok/toolhive-core/redisconn => ../lib/redisconn
)
