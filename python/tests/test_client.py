"""crossredis.Client: options, commands, threads, closing, failures."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import RedisServer

import crossredis
from crossredis import Client


def test_commands_ping_and_closing(server) -> None:
    with Client(server.url) as c:
        assert c.ping() is True
        assert c.address == f"127.0.0.1:{server.port}"
        assert c.command("SET", "k", b"v\x00\xff") == "OK"
        assert c.command("GET", "k") == b"v\x00\xff"
        assert c.command("RPUSH", "l", 1, 2.5, "\u00e4") == 3
        assert c.command("LRANGE", "l", 0, -1) == [b"1", b"2.5", "\u00e4".encode()]
        assert c.command("GET", "missing") is None
        with pytest.raises(crossredis.WrongTypeError, match="WRONGTYPE"):
            c.command("LPUSH", "k", "x")
        with pytest.raises(crossredis.ResponseError, match="unknown command"):
            c.command("NOSUCHCOMMAND")
        with pytest.raises(TypeError):
            c.command()
    assert c.closed
    c.close()  # idempotent
    with pytest.raises(crossredis.ClientClosedError, match="closed"):
        c.ping()
    with pytest.raises(crossredis.ClientClosedError):
        c.command("GET", "k")
    assert "closed" in repr(c)


def test_db_client_name_pool_size_and_timeouts(server, checker) -> None:
    with Client(server.url, db=3, client_name="xr-py-opts", pool_size=2, command_timeout_ms=200,
                connect_timeout_ms=1000) as c:
        c.command("SET", "k", "in db 3")
        assert checker.execute_command("SELECT", 3) and checker.get("k") == b"in db 3"
        checker.execute_command("SELECT", 0)

        def work() -> None:
            for _ in range(50):
                c.command("PING")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        named = [l for l in checker.execute_command("CLIENT", "LIST").decode().splitlines() if "name=xr-py-opts" in l]
        assert 1 <= len(named) <= 2  # the pool's bound
        t0 = time.monotonic()
        with pytest.raises(crossredis.TimeoutError):
            c.command("BLPOP", "nothing", 5)
        assert time.monotonic() - t0 < 2
    # the URL's options, overridden by keywords
    with Client(server.url + "/2?client_name=from-url") as c:
        assert c.command("CLIENT", "GETNAME") == b"from-url"
        c.command("SET", "k", "2")
    assert checker.execute_command("SELECT", 2) and checker.get("k") == b"2"


def test_acl_user_and_password() -> None:
    srv = RedisServer("--requirepass", "defaultpw", "--user", "alice", "on", ">secret", "~*", "&*", "+@all")
    try:
        with Client(srv.url, username="alice", password="secret") as c:
            assert c.command("ACL", "WHOAMI") == b"alice"
        with Client(f"redis://alice:secret@127.0.0.1:{srv.port}") as c:
            assert c.command("ACL", "WHOAMI") == b"alice"
        with Client(srv.url, password="defaultpw") as c:
            assert c.command("ACL", "WHOAMI") == b"default"
        with pytest.raises(crossredis.AuthenticationError) as err:
            Client(srv.url, username="alice", password="wrong")
        assert isinstance(err.value, crossredis.ConnectionError)
    finally:
        srv.close()


def test_tls_options_reach_the_core(server, tmp_path) -> None:
    with pytest.raises(crossredis.TLSError):
        Client(server.url, ca_file=str(tmp_path / "none.pem"))
    with pytest.raises(crossredis.TLSError):
        Client(server.url, ca_pem="not a certificate")
    # TLS on against a plain server: the handshake fails, as a connection error
    with pytest.raises(crossredis.ConnectionError):
        Client(server.url, insecure=True, connect_timeout_ms=1000, command_timeout_ms=1000)


def test_bad_options() -> None:
    with pytest.raises(TypeError, match="url must be a str"):
        Client(6379)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pool_size must be an int"):
        Client("redis://127.0.0.1:1", pool_size="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="db must be >= 0"):
        Client("redis://127.0.0.1:1", db=-1)
    with pytest.raises(TypeError):
        Client("redis://127.0.0.1:1", no_such_option=1)  # type: ignore[call-arg]
    with pytest.raises(crossredis.InvalidArgumentError):
        Client("http://127.0.0.1:1")
    with pytest.raises(crossredis.ConnectionError, match="127.0.0.1:1"):
        Client("redis://127.0.0.1:1")


def test_closing_while_other_threads_call() -> None:
    srv = RedisServer()
    try:
        c = Client(srv.url, pool_size=4)
        outcomes: list[str] = []
        started = threading.Barrier(5)

        def work() -> None:
            started.wait()
            try:
                while True:
                    c.command("PING")
            except crossredis.ClientClosedError:
                outcomes.append("closed")
            except BaseException as e:  # pragma: no cover - the failure shows it
                outcomes.append(repr(e))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        started.wait()
        time.sleep(0.1)
        c.close()
        for t in threads:
            t.join(5)
        assert outcomes == ["closed"] * 4
    finally:
        srv.close()


def test_server_gone_is_a_connection_error() -> None:
    srv = RedisServer()
    try:
        c = Client(srv.url, connect_timeout_ms=500, command_timeout_ms=500)
        assert c.ping()
        srv.stop()
        for _ in range(2):  # the broken connection, then a refused one
            with pytest.raises(crossredis.ConnectionError):
                c.command("GET", "k")
        c.close()
    finally:
        srv.close()


def test_commands_that_change_a_pooled_connection_are_refused(server, checker) -> None:
    """SELECT, SUBSCRIBE, MONITOR, CLIENT REPLY, ... would leave the pooled connection changed for
    whichever call takes it next (replies shifted by one, writes in another db): refused, with
    where to do it instead; the pool keeps working in db 0."""
    with Client(server.url, pool_size=2) as c:
        c.command("SET", "where", "db0")
        for args, why in [(("SELECT", 1), "choose the database in the URL"), (("subscribe", "ch"), "pub/sub"),
                          (("MONITOR",), "MONITOR"), (("CLIENT", "REPLY", "OFF"), "CLIENT REPLY"),
                          (("MULTI",), "in one batch"), (("RESET",), "RESET"), (("AUTH", "x"), "password")]:
            with pytest.raises(crossredis.InvalidArgumentError, match="changes the state of a pooled connection") as e:
                c.command(*args)
            assert why in str(e.value)
        assert [c.command("GET", "where") for _ in range(10)] == [b"db0"] * 10
    with Client(server.url + "/3") as c:  # the way to another database
        c.command("SET", "where", "db3")
    assert checker.get("where") == b"db0"
