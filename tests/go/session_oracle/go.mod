module crossredis.test/sessionoracle

go 1.26
