"""What the adapters send and store, compared with the Python port's capture
(tests/vectors/chat-python-port.monitor.txt): every command, key and argument, and the bytes left
in Redis, read back through a second connection."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from chatdata import PYTHON_CAPTURE, THREAD, captured_message
from monitor import capture

import crossredis
from crossredis.chat import IoRedisStateAdapter, Lock, QueueEntry, RedisStateAdapter, State

QUEUE_KEY = f"chat-sdk:queue:{THREAD}"
# the queue's TTL is expires_at - now, computed by the writer: time passes in between
_QUEUE_TTL = re.compile(r'"(8[0-9]{4}|90000)"')


def _same_ttl(lines: list[str]) -> list[str]:
    return [_QUEUE_TTL.sub('"90000"', l) if "queue" in l else l for l in lines]


class SyncFlow:
    """The captured session's operations through the synchronous State."""

    def __init__(self, st: State) -> None:
        self.st = st

    def run(self, checker, token_re: str) -> dict:
        st, seen = self.st, {}
        st.subscribe(THREAD)
        seen["subscribed"] = st.is_subscribed(THREAD)
        st.unsubscribe(THREAD)
        lock = st.acquire_lock(THREAD, 30000)
        seen["lock"] = lock
        seen["stored_token"] = checker.get(f"chat-sdk:lock:{THREAD}")
        seen["extended"] = st.extend_lock(lock, 30000)
        seen["released"] = st.release_lock(lock)
        st.set(f"thread-state:{THREAD}", {"foo": "b\u00e4r", "n": 1}, 2592000000)
        seen["deduped"] = st.set_if_not_exists("dedupe:slack:123.456", True, 300000)
        st.append_to_list(f"msg-history:{THREAD}", {"a": 1}, max_length=100, ttl_ms=604800000)
        now = int(time.time() * 1000)
        seen["now"] = now
        seen["depth"] = st.enqueue(THREAD, QueueEntry(enqueued_at=now, expires_at=now + 90000,
                                                      message=captured_message()), 10)
        st.get_client().command("LINDEX", QUEUE_KEY, "0")  # what the capture's script did
        seen["stored_entry"] = checker.lindex(QUEUE_KEY, 0)
        seen["entry"] = st.dequeue(THREAD)
        return seen


class AsyncFlow:
    """The same operations through the asyncio adapter, one awaited call at a time."""

    def __init__(self, adapter: RedisStateAdapter) -> None:
        self.a = adapter

    def run(self, checker, token_re: str) -> dict:
        async def flow() -> dict:
            a, seen = self.a, {}
            await a.subscribe(THREAD)
            seen["subscribed"] = await a.is_subscribed(THREAD)
            await a.unsubscribe(THREAD)
            lock = await a.acquire_lock(THREAD, 30000)
            seen["lock"] = lock
            seen["stored_token"] = checker.get(f"chat-sdk:lock:{THREAD}")
            seen["extended"] = await a.extend_lock(lock, 30000)
            seen["released"] = await a.release_lock(lock)
            await a.set(f"thread-state:{THREAD}", {"foo": "b\u00e4r", "n": 1}, 2592000000)
            seen["deduped"] = await a.set_if_not_exists("dedupe:slack:123.456", True, 300000)
            await a.append_to_list(f"msg-history:{THREAD}", {"a": 1}, max_length=100, ttl_ms=604800000)
            now = int(time.time() * 1000)
            seen["now"] = now
            seen["depth"] = await a.enqueue(THREAD, QueueEntry(enqueued_at=now, expires_at=now + 90000,
                                                               message=captured_message()), 10)
            a.get_client().command("LINDEX", QUEUE_KEY, "0")
            seen["stored_entry"] = checker.lindex(QUEUE_KEY, 0)
            seen["entry"] = await a.dequeue(THREAD)
            return seen

        return asyncio.run(flow())


def _open(kind: str, io: bool, url: str):
    if kind == "sync":
        return State(url, token_prefix="ioredis") if io else State(url)
    return IoRedisStateAdapter(url) if io else RedisStateAdapter(url)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("io", [False, True], ids=["redis", "ioredis"])
def test_every_operation_sends_what_the_port_sends(server, checker, monitor, kind, io) -> None:
    adapter = _open(kind, io, server.url)
    if kind == "async":
        asyncio.run(adapter.connect())
    client = adapter.get_client()
    monitor.take(lambda m: client.command("ECHO", m))  # whatever connecting sent
    flow = SyncFlow(adapter) if kind == "sync" else AsyncFlow(adapter)
    prefix = "ioredis" if io else "redis"
    seen = flow.run(checker, prefix)
    got = _same_ttl(monitor.collect(lambda m: client.command("ECHO", m)))

    first, last = (27, 49) if io else (3, 25)  # the ioredis adapter's session, or the redis one's
    want = _same_ttl(capture(PYTHON_CAPTURE, first, last))
    assert got == want

    # results, as the port returns them
    assert seen["subscribed"] is True
    lock = seen["lock"]
    assert isinstance(lock, Lock) and lock.thread_id == THREAD
    assert re.fullmatch(prefix + r"_\d{13}_[0-9a-f]{32}", lock.token)
    assert abs(lock.expires_at - (int(time.time() * 1000) + 30000)) < 5000
    assert seen["stored_token"] == lock.token.encode()
    assert seen["extended"] is True and seen["released"] is None
    assert seen["deduped"] is True and seen["depth"] == 1

    # bytes in Redis, read through another connection
    assert checker.get(f"chat-sdk:cache:thread-state:{THREAD}") == b'{"foo": "b\\u00e4r", "n": 1}'
    assert checker.get("chat-sdk:cache:dedupe:slack:123.456") == b"true"
    assert checker.lrange(f"chat-sdk:list:msg-history:{THREAD}", 0, -1) == [b'{"a": 1}']
    now = seen["now"]
    message = captured_message()
    assert seen["stored_entry"] == (
        f'{{"enqueued_at": {now}, "expires_at": {now + 90000}, "message": {json.dumps(message.to_json())}}}'
    ).encode()
    entry = seen["entry"]
    assert isinstance(entry, QueueEntry)
    assert (entry.enqueued_at, entry.expires_at) == (now, now + 90000)
    assert type(entry.message) is type(message) and entry.message.to_json() == message.to_json()

    if kind == "async":
        asyncio.run(adapter.disconnect())
    else:
        adapter.disconnect()


def test_reads_and_the_remaining_methods(server, checker) -> None:
    with State(server.url) as st:
        assert st.get("missing") is None
        st.set("k", {"foo": "b\u00e4r", "n": 1})
        assert st.get("k") == {"foo": "b\u00e4r", "n": 1}
        assert checker.pttl("chat-sdk:cache:k") == -1  # no TTL: plain SET
        st.set("k", [1, 2.5, None, "x"], 5000)
        assert 0 < checker.pttl("chat-sdk:cache:k") <= 5000
        assert checker.get("chat-sdk:cache:k") == b'[1, 2.5, null, "x"]'
        checker.set("chat-sdk:cache:raw", b"not json {")
        assert st.get("raw") == "not json {"  # the raw string, as the port returns it
        assert st.set_if_not_exists("k", 1) is False
        st.delete("k")
        assert st.get("k") is None and checker.exists("chat-sdk:cache:k") == 0
        assert st.set_if_not_exists("k", 1) is True and checker.pttl("chat-sdk:cache:k") == -1

        for i in range(5):
            st.append_to_list("l", {"i": i}, max_length=3)
        checker.rpush("chat-sdk:list:l", b"{broken")
        assert st.get_list("l") == [{"i": 2}, {"i": 3}, {"i": 4}, "{broken"]
        assert checker.pttl("chat-sdk:list:l") == -1
        assert st.get_list("none") == []

        lock = st.acquire_lock("t", 30000)
        assert st.acquire_lock("t", 30000) is None  # no wait, no retry
        other = Lock(thread_id="t", token="redis_1_x", expires_at=0)
        st.release_lock(other)  # a wrong token changes nothing
        assert st.extend_lock(other, 1000) is False
        assert checker.get("chat-sdk:lock:t") == lock.token.encode()
        st.force_release_lock("t")
        assert checker.exists("chat-sdk:lock:t") == 0
        assert st.extend_lock(lock, 1000) is False and checker.exists("chat-sdk:lock:t") == 0  # never re-created

        assert st.queue_depth("q") == 0 and st.dequeue("q") is None
        now = int(time.time() * 1000)
        for i in range(4):
            assert st.enqueue("q", QueueEntry(now, now + 1000, {"n": i}), 3) == min(i + 1, 3)
        assert 59000 < checker.pttl("chat-sdk:queue:q") <= 60000  # at least a minute
        assert [st.dequeue("q").message for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]  # oldest dropped


def test_dialect_options_reach_the_core(server, checker) -> None:
    with State(server.url, key_prefix="", token_suffix="base36", json_dialect="js", queue_dialect="ts") as st:
        lock = st.acquire_lock("t", 1000)
        assert re.fullmatch(r"redis_\d{13}_[0-9a-z]{13}", lock.token)
        assert checker.get(":lock:t") == lock.token.encode()  # an empty prefix is kept, as the port keeps it
        st.set("k", {"foo": "b\u00e4r", "n": 1})
        assert checker.get(":cache:k") == '{"foo":"b\u00e4r","n":1}'.encode()
        st.enqueue("q", QueueEntry(5, 6, {"a": 1}), 0)
        assert checker.lindex(":queue:q", 0) == b'{"message":{"a":1},"enqueuedAt":5,"expiresAt":6}'
    with State(server.url, key_prefix="app", queue_dialect="both") as st:
        st.enqueue("q", QueueEntry(5, 6, {"a": 1}), 0)
        assert checker.lindex("app:queue:q", 0) == (
            b'{"message": {"a": 1}, "enqueuedAt": 5, "expiresAt": 6, "enqueued_at": 5, "expires_at": 6}')
        # either spelling reads back
        checker.rpush("app:queue:q", b'{"message":{"b":2},"enqueuedAt":7,"expiresAt":8}')
        assert st.dequeue("q") == QueueEntry(5, 6, {"a": 1})
        assert st.dequeue("q") == QueueEntry(7, 8, {"b": 2})
    with pytest.raises(ValueError, match="json_dialect must be one of 'python', 'js'"):
        State(server.url, json_dialect="ts")
    with pytest.raises(ValueError, match="token_prefix"):
        State(server.url, token_prefix="a_b")


def test_a_non_json_queue_entry_raises_data_error_and_the_rest_stays(server, checker) -> None:
    with State(server.url) as st:
        checker.rpush("chat-sdk:queue:q", b"garbage", b'{"enqueued_at": 1, "expires_at": 2, "message": 3}')
        with pytest.raises(crossredis.DataError, match="chat-sdk:queue:q") as err:
            st.dequeue("q")
        assert err.value.raw == b"garbage"  # popped, but not lost
        assert st.dequeue("q") == QueueEntry(1, 2, 3)

    async def run() -> None:
        a = RedisStateAdapter(server.url)
        await a.connect()
        checker.rpush("chat-sdk:queue:q", b"[1]", b'{"message": 1, "expiresAt": 2}')
        got = await asyncio.gather(a.dequeue("q"), a.dequeue("q"), return_exceptions=True)
        assert isinstance(got[0], crossredis.DataError) and got[0].raw == b"[1]"
        assert got[1] == QueueEntry(-1, 2, 1)  # a TS entry without enqueuedAt
        await a.disconnect()

    asyncio.run(run())

