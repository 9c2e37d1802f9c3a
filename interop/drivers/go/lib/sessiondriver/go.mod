module crossredis.interop/sessiondriver

go 1.26

require github.com/stacklok/toolhive v0.48.0
