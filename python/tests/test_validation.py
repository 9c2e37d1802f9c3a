"""The arguments every binding refuses with the same words (tests/cases/bad-arguments.json, read by
the Node tests too), nothing sent; a misspelt keyword fails when the adapter is made; the client's
keywords are the core's option table."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import crossredis
from crossredis import _native
from crossredis.chat import Lock, QueueEntry, RedisStateAdapter, State

CASES = json.loads((Path(__file__).resolve().parents[2] / "tests" / "cases" / "bad-arguments.json").read_text())["cases"]


def _call(st: Any, op: str, a: dict[str, Any]) -> Any:
    """The case's operation with the core's argument names mapped to the Python method's."""
    if op == "set":
        return st.set(a["key"], a["value"], a.get("ttl_ms"))
    if op == "set_if_not_exists":
        return st.set_if_not_exists(a["key"], a["value"], a.get("ttl_ms"))
    if op == "acquire_lock":
        return st.acquire_lock(a["thread_id"], a["ttl_ms"])
    if op == "extend_lock":
        return st.extend_lock(Lock(a["thread_id"], a["token"], 0), a["ttl_ms"])
    if op == "append_to_list":
        return st.append_to_list(a["key"], a["value"], max_length=a.get("max_length"), ttl_ms=a.get("ttl_ms"))
    if op == "enqueue":
        return st.enqueue(a["thread_id"], QueueEntry(a["enqueued_at_ms"], a["expires_at_ms"], a["message"]),
                          a["max_size"])
    if op == "subscribe":
        return st.subscribe(a["thread_id"])
    if op == "get":
        return st.get(a["key"])
    raise AssertionError(f"no mapping for {op}")


@pytest.mark.parametrize("case", CASES, ids=[f"{c['op']}-{i}" for i, c in enumerate(CASES)])
def test_bad_arguments_agree_with_node(server, checker, case) -> None:
    cls = getattr(crossredis, case["error"], None) or getattr(builtins, case["error"])
    if case["op"] == "client":  # refused when made: the client does not connect, the adapter would not yet
        args = dict(case["args"])
        url = args.pop("url", server.url)
        with pytest.raises(cls) as e:
            crossredis.Client(url, **args)
        assert case["message"] in str(e.value)
        with pytest.raises(cls) as e:
            RedisStateAdapter(url, **args)
        assert case["message"] in str(e.value)
    elif case["op"] == "new":
        with pytest.raises(cls) as e:
            State(server.url, **case["args"])
        assert case["message"] in str(e.value)
        with pytest.raises(cls) as e:
            RedisStateAdapter(server.url, **case["args"])  # made, not connected: refused already
        assert case["message"] in str(e.value)
    else:
        with State(server.url) as st:
            with pytest.raises(cls) as e:
                _call(st, case["op"], case["args"])
            assert case["message"] in str(e.value)

        async def run() -> None:
            a = RedisStateAdapter(server.url)
            await a.connect()
            try:
                with pytest.raises(cls) as e:
                    await _call(a, case["op"], case["args"])
                assert case["message"] in str(e.value)
            finally:
                await a.disconnect()

        asyncio.run(run())
    assert checker.dbsize() == 0


def test_a_misspelt_keyword_fails_when_made(server) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'pasword'"):
        RedisStateAdapter(server.url, pasword="x")  # the async adapter connects later: refused now
    with pytest.raises(TypeError, match="unexpected keyword argument 'comand_timeout_ms'"):
        State(server.url, comand_timeout_ms=100)
    with pytest.raises(TypeError):
        crossredis.Client(server.url, pasword="x")  # type: ignore[call-arg]


def test_client_keywords_are_the_core_option_table() -> None:
    """Client's keywords and the core's client_options.def name the same options, so every keyword
    reaches the core and the core has no option Python cannot set."""
    table = []
    while (row := _native.xr_client_option_info_at(len(table))) is not None:
        table.append(row.name)
    params = inspect.signature(crossredis.Client.__init__).parameters
    assert [name for name in params if name != "self"] == table


def test_option_values_are_checked_when_an_adapter_is_made(server, monkeypatch) -> None:
    """The async adapter connects later; its client options are the core's to judge now."""
    with pytest.raises(crossredis.OutOfRangeError, match="pool_size must be at most 4096, got 5000"):
        RedisStateAdapter(server.url, pool_size=5000)
    monkeypatch.setenv("REDIS_URL", "redis://h:notaport")
    with pytest.raises(crossredis.InvalidArgumentError, match="^REDIS_URL: URL: bad port"):
        RedisStateAdapter()
