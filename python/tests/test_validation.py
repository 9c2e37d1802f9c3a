"""The arguments every binding refuses with the same words (tests/cases/bad-arguments.json, read by
the Node tests too), nothing sent; and a misspelt keyword fails when the adapter is made."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import crossredis
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
    cls = getattr(crossredis, case["error"])
    if case["op"] == "new":
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
