"""A password never shows: not in repr()/str() of clients and adapters (before and after they
connect), not in the errors a URL or a refused AUTH raise. Shown as ``redis://user:***@host``."""

from __future__ import annotations

import asyncio

import pytest
from conftest import RedisServer

import crossredis
from crossredis.chat import IoRedisStateAdapter, RedisStateAdapter, State

SECRET = "pa55-w0rd-xyz"


@pytest.fixture(scope="module")
def locked() -> RedisServer:
    srv = RedisServer("--requirepass", SECRET)
    yield srv
    srv.close()


def _hidden(*texts: object) -> None:
    for t in texts:
        assert SECRET not in str(t), t
        assert SECRET not in repr(t), t


def test_reprs_hide_the_password(locked) -> None:
    url = f"redis://default:{SECRET}@127.0.0.1:{locked.port}/0"
    c = crossredis.Client(url)
    _hidden(c)
    st = State(url)
    _hidden(st, st.get_client())
    st.close()
    _hidden(st)
    c.close()
    a = IoRedisStateAdapter(url)
    assert f"redis://default:***@127.0.0.1:{locked.port}/0" in repr(a)  # not connected: the redacted URL
    _hidden(a, vars(a).get("_url") and "")

    async def run() -> None:
        await a.connect()
        _hidden(a)
        await a.disconnect()

    asyncio.run(run())
    b = RedisStateAdapter(url=f"redis://:{SECRET}@127.0.0.1:{locked.port}", password=SECRET)
    assert "redis://:***@127.0.0.1" in repr(b)


def test_errors_hide_the_password(locked) -> None:
    bad_urls = [
        f"redis://u:{SECRET}@127.0.0.1:70000",          # a bad port
        f"redis://u:{SECRET}/x@127.0.0.1:{locked.port}",  # an unescaped '/' in the password
        f"redis://u:{SECRET}@127.0.0.1:{locked.port}/db",
        f"http://u:{SECRET}@127.0.0.1",
        f"redis://u:{SECRET}@127.0.0.1?pasword={SECRET}",
    ]
    for url in bad_urls:
        with pytest.raises(crossredis.InvalidArgumentError) as e:
            crossredis.Client(url)
        _hidden(e.value)
        with pytest.raises(crossredis.InvalidArgumentError) as e:
            RedisStateAdapter(url)  # checked when made, before connect()
        _hidden(e.value)
    with pytest.raises(crossredis.AuthenticationError) as e:
        crossredis.Client(f"redis://default:{SECRET}-wrong@127.0.0.1:{locked.port}")
    _hidden(e.value)
    with pytest.raises(crossredis.AuthenticationError) as e:
        State(locked.url, password=SECRET + "-wrong")
    _hidden(e.value)


def test_a_bad_redis_url_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://u:{SECRET}@localhost:99999")
    with pytest.raises(crossredis.InvalidArgumentError, match=r"^REDIS_URL: URL: bad port") as e:
        RedisStateAdapter()
    _hidden(e.value)
    with pytest.raises(crossredis.InvalidArgumentError, match="^URL: bad port"):
        RedisStateAdapter("redis://localhost:99999")  # given, not from the environment
