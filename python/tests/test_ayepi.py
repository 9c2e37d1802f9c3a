"""crossredis.ayepi: ayepi's work Store, response cache and broker from Python, sync and asyncio, on a
standalone server, the run's Sentinel set and its Cluster (the ``topo`` fixture): results and what
Redis holds, the commands of the real @ayepi/redis 0.4.0 capture (MONITOR), cache entries in the
bytes JavaScript writes (tests/node/ayepi_oracle.mjs), the sweeps, the retry policy of the asyncio
classes (the core's decisions: a lost claim read back, an increment never repeated, on_error once)
and of the sync ones against a server that is gone, the broker's delivery, bad input refused in the
core's words with nothing stored."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

import pytest

from conftest import RedisServer
from crossredis import ConnectionError, ConnectionLostError, InvalidArgumentError
from crossredis.ayepi import (AsyncRedisBroker, AsyncRedisCache, AsyncRedisStore, CacheEntry, RedisBroker,
                              RedisCache, RedisStore, Retry, cache_key, done_notification, envelope,
                              group_done_notification)
from monitor import capture
from test_ayepi_oracle import texts

FAST = Retry(attempts=3, base_ms=5, factor=2, max_ms=20, jitter=0)
# The capture's entry (tests/vectors/ayepi-0.4.0.monitor.txt line 13), as Python hands it over
CAPTURED_ENTRY = {"key": "K", "path": "/x", "method": "GET", "bytes": 2, "staleUntil": 700, "expires": 500,
                  "storedAt": 0, "headers": [["content-type", "application/json"]], "status": 200, "body": "{}"}
CAPTURED_BYTES = (b'{"body":"{}","status":200,"headers":[["content-type","application/json"]],"storedAt":0,'
                  b'"expires":500,"staleUntil":700,"bytes":2,"method":"GET","path":"/x","key":"K"}')
FAR = 4102444800000  # 2100-01-01 in ms: an entry that lives


def prefixes(topo) -> tuple[str, str]:
    return f"{topo.prefix}:p:", f"{topo.prefix}:ayepi:cache:"


def test_store(topo) -> None:
    p, _ = prefixes(topo)
    with RedisStore(topo.url, prefix=p) as st:
        assert st.get("k") is None
        st.set("k", "v\u00e4\u2028")
        assert st.get("k") == "v\u00e4\u2028"
        assert topo.checker.get(p + "k") == "v\u00e4\u2028".encode()
        st.set("k2", "v", 100000)
        assert 99000 <= topo.checker.pttl(p + "k2") <= 100000
        st.delete("k")
        st.delete("k")  # a missing key is no error
        assert st.get("k") is None
        assert st.set_if_not_exists("c", "me") is True
        assert st.set_if_not_exists("c", "other", 5000) is False
        assert topo.checker.get(p + "c") == b"me" and topo.checker.pttl(p + "c") == -1
        assert st.set_if_not_exists("c2", "1", 50000) is True and 49000 <= topo.checker.pttl(p + "c2") <= 50000
        assert st.increment("n") == 1
        assert st.increment("n", 2) == 3
        assert st.increment("n", -4, 60000) == -1
        assert 59000 <= topo.checker.pttl(p + "n") <= 60000
        assert st.prefix == p and st.retry == Retry()


def test_the_capture_is_what_is_sent(server: RedisServer, monitor) -> None:
    """The capture's lines 4-14 (Store and cache): the same commands, the increment with a TTL one
    script (upstream's separate PEXPIRE, retried with its INCRBY, is the defect fixed)."""
    with RedisStore(server.url, prefix="p:") as st, RedisCache(client=st.client) as cache:
        def mark(text: str) -> None:
            st.client.command("ECHO", text)

        monitor.take(mark)
        st.get("k")
        st.set("k", "v")
        st.set("k2", "v", 1000)
        st.delete("k")
        st.set_if_not_exists("c", "1")
        st.set_if_not_exists("c2", "1", 500)
        st.increment("n", 2)
        st.increment("n", -1, 1000)
        cache.set("K", CAPTURED_ENTRY)  # staleUntil 700 is long past: PX 1
        cache.get("K")
        got = [line.replace('client "EVALSHA" "', 'client "EVAL" "', 1) for line in monitor.collect(mark)]
    want = capture("ayepi-0.4.0.monitor.txt", 4, 10)
    want += ['client "EVAL" "1" "p:n" "-1" "1000"', 'lua "INCRBY" "p:n" "-1"', 'lua "PEXPIRE" "p:n" "1000"']
    want += capture("ayepi-0.4.0.monitor.txt", 13, 14)
    assert got == want


def test_the_captured_sweeps(server: RedisServer, monitor) -> None:
    """invalidate, clear and delete as the capture has them (lines 15-19)."""
    with RedisCache(server.url) as cache:
        cache.set("K", {**CAPTURED_ENTRY, "staleUntil": FAR})

        def mark(text: str) -> None:
            cache.client.command("ECHO", text)

        monitor.take(mark)
        assert cache.invalidate(lambda info: True) == 1
        assert cache.clear() == 0
        assert cache.delete("K") is False
        got = monitor.collect(mark)
    want = capture("ayepi-0.4.0.monitor.txt", 15, 17) + capture("ayepi-0.4.0.monitor.txt", 18, 19)
    assert got == want


def test_cache_bytes_are_javascripts(topo) -> None:
    _, c = prefixes(topo)
    entry = CacheEntry(body='{"id":"1","n":1,"t":"<\u2028\U0001F600>"}', stored_at=1795298432317,
                       expires=1795298462317, stale_until=FAR, method="GET", path="/users/:id",
                       key=cache_key("GET", "/users/:id", {"q": "x"}, vary="u1"))
    (js,) = texts({"kind": "cache_entry", "body": entry.body, "storedAt": entry.stored_at, "expires": entry.expires,
                   "staleUntil": entry.stale_until, "method": "GET", "path": "/users/:id", "key": entry.key})
    with RedisCache(topo.url, prefix=c) as cache:
        cache.set("e1", entry)
        assert topo.checker.get(c + "e1") == js.encode()
        cache.set("e2", {k: entry.to_dict()[k] for k in reversed(list(entry.to_dict()))})  # another key order
        assert topo.checker.get(c + "e2") == js.encode()
        cache.set("e3", CAPTURED_ENTRY)
        assert topo.checker.get(c + "e3") in (CAPTURED_BYTES, None)  # PX 1: maybe gone already
        got = cache.get("e1")
        assert got == entry and got.bytes == len(entry.body.encode())
        assert CacheEntry.from_json(entry.to_json()) == entry
        assert cache.get("missing") is None
        ttl = topo.checker.pttl(c + "e1")
        assert ttl > 10**11
        assert cache.delete("e2") is True and cache.delete("e2") is False


def test_cache_clock_and_sweeps(topo) -> None:
    _, c = prefixes(topo)
    now = [1000]
    with RedisCache(topo.url, prefix=c, now=lambda: now[0]) as cache:
        cache.set("a", CacheEntry(body="a", stored_at=0, expires=0, stale_until=3_600_000, path="/a", key="ka"))
        assert 3_598_000 <= topo.checker.pttl(c + "a") <= 3_599_000  # staleUntil - now(): the given clock
        for i in range(30):
            cache.set(f"x{i}", CacheEntry(body=str(i), stale_until=FAR, path="/x" if i % 3 else "/y", key=f"k{i}"))
        topo.checker.set(c + "not-json", b"\xff")  # not an entry: never chosen
        topo.checker.sadd(c + "a-set", b"m")  # not a string: left alone
        seen: list[Any] = []

        def pred(info: Any) -> bool:
            seen.append(info)
            assert info["staleUntil"] == info.stale_until and info.get("storedAt") == info.stored_at
            return bool(info.path == "/y")

        assert cache.invalidate(pred) == 10
        assert len(seen) == 31 and {i.redis_key for i in seen} >= {c + "x0", c + "a"}
        assert sorted(i.key for i in seen if i.path == "/y") == sorted(f"k{i}" for i in range(0, 30, 3))
        assert topo.checker.exists(c + "x0") == 0 and topo.checker.exists(c + "x1") == 1
        assert cache.clear() == 23  # the 20 left, "a", and the two that are no entries
        assert topo.keys("ayepi:cache:*") == []


def test_asyncio(topo) -> None:
    p, c = prefixes(topo)

    async def main() -> None:
        async with AsyncRedisStore(topo.url, prefix=p) as st, AsyncRedisCache(topo.url, prefix=c) as cache:
            assert await st.get("k") is None
            await asyncio.gather(st.set("k", "v"), st.set("t", "x", 50000), st.increment("n", 5))
            assert await asyncio.gather(st.get("k"), st.set_if_not_exists("k", "w"), st.increment("n", 1, 60000)) == \
                ["v", False, 6]
            assert st.batcher is not None and st.batcher.exec_count >= 2
            assert 59000 <= topo.checker.pttl(p + "n") <= 60000
            await st.delete("k")
            assert await st.get("k") is None
            e = CacheEntry(body="{}", stale_until=FAR, path="/x", key="K")
            await cache.set("K", e)
            await cache.set("L", CacheEntry(body="[]", stale_until=FAR, path="/l", key="L"))
            assert await cache.get("K") == e

            async def by_path(info: Any) -> bool:  # a coroutine function is awaited
                return bool(info.path == "/x")

            assert await cache.invalidate(by_path) == 1
            assert await cache.delete("L") is True
            assert await cache.clear() == 0

    asyncio.run(main())


class _Lost:
    """A fault for the asyncio policy: the next `times` runs of row `name` reach Redis (the command
    runs) and then fail as a lost reply would (ConnectionLostError, the core's XR_EIO)."""

    def __init__(self, store: Any, name: str, times: int) -> None:
        self.sent: list[str] = []
        real = store._submit

        async def once(op: Any, args: tuple[Any, ...]) -> Any:
            self.sent.append(op.name)
            value = await real(op, args)
            if op.name == name and self.left > 0:
                self.left -= 1
                raise ConnectionLostError(f"connection lost reading the reply of {name}")
            return value

        self.left = times
        store._submit = once


def test_asyncio_policy_reads_a_lost_claim_back_and_never_repeats_an_increment(server: RedisServer) -> None:
    errors: list[BaseException] = []

    async def main() -> None:
        async with AsyncRedisStore(server.url, retry=FAST, on_error=errors.append) as st:
            lost = _Lost(st, "set_if_not_exists", 1)
            assert await st.set_if_not_exists("claim", "token-1") is True  # ours, read back
            assert lost.sent == ["set_if_not_exists", "get"]
            lost = _Lost(st, "set_if_not_exists", 1)
            assert await st.set_if_not_exists("claim", "token-2") is False  # another's value read back
            lost = _Lost(st, "increment", 1)
            with pytest.raises(ConnectionLostError):
                await st.increment("n", 1)
            assert lost.sent == ["increment"]  # never sent twice
            assert await st.get("n") == "1"
            assert len(errors) == 1 and isinstance(errors[0], ConnectionLostError)
            lost = _Lost(st, "get", 2)
            assert await st.get("n") == "1"  # a lost GET is tried again (3 attempts)
            assert lost.sent == ["get", "get", "get"] and len(errors) == 1
            lost = _Lost(st, "set", 3)
            with pytest.raises(ConnectionLostError):
                await st.set("k", "v")
            assert lost.sent == ["set"] * 3 and len(errors) == 2  # on_error once, after the last

    asyncio.run(main())


def test_a_server_that_is_gone(server: RedisServer) -> None:
    """Nothing reaches it: each call is tried `attempts` times, on_error once, the error raised; an
    on_error that raises never masks it."""
    own = RedisServer()
    errors: list[BaseException] = []

    def boom(e: BaseException) -> None:
        errors.append(e)
        raise RuntimeError("on_error failed")

    st = RedisStore(own.url, retry=Retry(attempts=3, base_ms=50, factor=2, max_ms=1000, jitter=0), on_error=boom)
    own.close()
    try:
        t0 = time.monotonic()
        with pytest.raises(ConnectionError):
            st.get("k")  # a lost reply or no connection: tried again either way
        assert time.monotonic() - t0 >= 0.14  # 50 + 100 ms between the three tries
        assert len(errors) == 1 and isinstance(errors[0], ConnectionError)
    finally:
        st.close()


def test_bad_input_is_the_cores_refusal_and_stores_nothing(server: RedisServer, checker) -> None:
    errors: list[BaseException] = []
    with RedisStore(server.url, on_error=errors.append) as st, RedisCache(client=st.client) as cache:
        cases = [(lambda: st.get(""), "ayepi.get: the key is empty"),
                 (lambda: st.set("", "v"), "ayepi.set: the key is empty"),
                 (lambda: st.set("k", "v", -5), "ayepi.set: ttl_ms must be 0 (none) to 9007199254740991, got -5"),
                 (lambda: st.increment("n", 1, 2**64), "ttl_ms: 18446744073709551616 is out of range for a 64-bit integer"),
                 (lambda: cache.set("K", {**CAPTURED_ENTRY, "body": 1}), 'cache entry: "body" must be a string'),
                 (lambda: cache.set("K", {"body": "x"}), 'cache entry: "status" is missing'),
                 (lambda: cache.set("K", {**CAPTURED_ENTRY, "extra": 1}), 'cache entry: unknown field "extra"'),
                 (lambda: st.set("k\ud800", "v"), "key: not valid Unicode (a lone surrogate U+D800 at index 1)")]
        for call, message in cases:
            with pytest.raises(InvalidArgumentError) as e:
                call()
            assert message in str(e.value), (str(e.value), message)
        for call in (lambda: st.get(1), lambda: st.set("k", b"v"), lambda: st.increment("n", "1"),
                     lambda: st.increment("n", True), lambda: cache.set("K", "{}"), lambda: cache.invalidate(3)):
            with pytest.raises(TypeError):
                call()
        with pytest.raises(TypeError):
            RedisStore(server.url, retry=Retry(attempts="3"))  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="retry.attempts must be at least 1"):
            RedisStore(server.url, retry=Retry(attempts=0))
        assert checker.dbsize() == 0
        assert len(errors) == 5  # the store's refused calls (the cache has no on_error); TypeErrors are the caller's


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_broker_sync(topo) -> None:
    channel = f"{topo.prefix}:ch"
    errors: list[BaseException] = []
    with RedisBroker(topo.url, channel=channel, on_error=errors.append) as b, \
            RedisBroker(topo.url, channel=channel, raw=True) as raw, RedisBroker(topo.url, channel=channel + "x") as other:
        got: list[Any] = []
        later: list[Any] = []
        def failing(m: Any) -> None:
            raise ValueError(f"listener failed on {m}")

        b.subscribe(failing)
        unsubscribe = b.subscribe(got.append)
        b.subscribe(later.append)
        bins: list[bytes] = []
        raw.subscribe(bins.append)
        assert b.listening and raw.listening
        env = envelope("progress", {"pct": 77}, {"job": "j1"})
        b.publish(env)
        b.publish("\u00e4\u2028")
        other.publish("elsewhere")  # another channel: not handed over
        raw.publish(b"\xff\x00bin")
        wait_for(lambda: len(later) == 3 and len(bins) == 3)
        assert got == later == [env, "\u00e4\u2028", "\ufffd\x00bin"]
        assert bins == [env.encode(), "\u00e4\u2028".encode(), b"\xff\x00bin"]
        assert [str(e) for e in errors] == [f"listener failed on {m}" for m in got]  # the others still ran
        unsubscribe()
        b.publish("after")
        wait_for(lambda: len(later) == 4)
        assert got[-1] != "after"
        it = b.messages(timeout=2)
        threading.Timer(0.2, lambda: raw.publish("via iterator")).start()
        assert next(it) == "via iterator"
        it.close()
        assert list(b.messages(timeout=0.1)) == []


def test_broker_publish_never_raises(server: RedisServer) -> None:
    errors: list[BaseException] = []
    b = RedisBroker(server.url, on_error=errors.append)
    b.close()
    b.publish("x")  # closed: reported, not raised
    assert len(errors) == 1
    with pytest.raises(RuntimeError, match="RedisBroker is closed"):
        next(b.messages())
    with RedisBroker(server.url) as b, pytest.raises(TypeError):
        b.publish(1)  # type: ignore[arg-type]


def test_broker_asyncio(topo) -> None:
    channel = f"{topo.prefix}:ach"

    async def main() -> None:
        errors: list[BaseException] = []
        async with AsyncRedisBroker(topo.url, channel=channel, on_error=errors.append) as b, \
                AsyncRedisBroker(topo.url, channel=channel) as pub:
            got: list[Any] = []
            await b.subscribe(lambda m: 1 / 0)
            await b.subscribe(got.append)
            assert b.listening

            async def take(n: int) -> list[Any]:
                out = []
                async for m in b:
                    out.append(m)
                    if len(out) == n:
                        break
                return out

            reader = asyncio.ensure_future(take(2))
            await asyncio.sleep(0.05)
            await pub.publish(done_notification("i1", "g1"))
            await pub.publish(group_done_notification("g1"))
            assert await asyncio.wait_for(reader, 5) == ['{"kind":"done","id":"i1","groupId":"g1"}',
                                                         '{"kind":"group-done","groupId":"g1"}']
            assert got == await asyncio.wait_for(reader, 5)
            assert len(errors) == 2 and all(isinstance(e, ZeroDivisionError) for e in errors)
            assert [m async for m in b.messages(timeout=0.1)] == []
        await b.publish("closed")  # reported, not raised
        assert len(errors) == 3
        with pytest.raises(RuntimeError, match="AsyncRedisBroker is closed"):
            await b.messages().__anext__()

    asyncio.run(main())


def test_broker_asyncio_publish_keeps_order(topo) -> None:
    """Concurrent publishes reach the server in the order they were made (ayepi's progress events
    over ioredis keep theirs): one task sends them, batch after batch."""
    channel = f"{topo.prefix}:order"

    async def main() -> None:
        async with AsyncRedisBroker(topo.url, channel=channel) as b, AsyncRedisBroker(topo.url, channel=channel) as pub:
            got: list[Any] = []
            arrived = asyncio.Event()

            def take(m: Any) -> None:
                got.append(m)
                if len(got) == 300:
                    arrived.set()

            await b.subscribe(take)
            await asyncio.gather(*(pub.publish(f"m{i}") for i in range(300)))
            await asyncio.wait_for(arrived.wait(), 10)
            assert got == [f"m{i}" for i in range(300)]

    asyncio.run(main())


def test_broker_asyncio_publish_without_a_thread(topo) -> None:
    """Once the event loop's connection is open, asyncio publishes run on it (the publish_to row
    in the Batcher's batches): no executor thread, in order, the bytes as given."""
    channel = f"{topo.prefix}:nothread"

    class Counting(concurrent.futures.ThreadPoolExecutor):
        jobs = 0

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            Counting.jobs += 1
            return super().submit(*args, **kwargs)

    async def main() -> None:
        async with AsyncRedisBroker(topo.url, channel=channel, raw=True) as b, \
                AsyncRedisBroker(topo.url, channel=channel) as pub:
            got: list[Any] = []
            await b.subscribe(got.append)
            await pub.publish("warm")  # the first batch opens the loop's connection (a thread)
            asyncio.get_running_loop().set_default_executor(Counting(max_workers=1))
            await asyncio.gather(*(pub.publish(f"m{i}") for i in range(100)))
            for i in range(100, 120):
                await pub.publish(f"m{i}".encode())
            await pub.publish(b"\x00\xff")
            deadline = time.monotonic() + 10
            while len(got) < 122 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert got == [b"warm"] + [f"m{i}".encode() for i in range(120)] + [b"\x00\xff"]
            assert Counting.jobs == 0
            batcher = pub._publisher.batcher if pub._publisher is not None else None
            assert batcher is not None and batcher.loop_count >= 2 and batcher.op_count == 122

    asyncio.run(main())


def test_writers_are_javascripts() -> None:
    assert [envelope("progress", {"pct": 77}, {"job": "j1"}), envelope("c", None), envelope("c", [1.5, "\u2028<"], {}),
            done_notification("i1", "g1"), done_notification("i1", "g1", "Error: boom"),
            group_done_notification("g1"),
            cache_key("get", "/users/:id", "q=x", vary="u1"),
            cache_key("GET", "/report", [["b", "2"], ["a", "1"]], vary="u1"),
            cache_key("POST", "/p", {"b": ["2", "1"], "a": "0"}, body={"y": [{"b": 1, "a": 2}], "x": None})] == texts(
        {"kind": "envelope", "ch": "progress", "params": {"job": "j1"}, "data": {"pct": 77}},
        {"kind": "envelope", "ch": "c", "data": None},
        {"kind": "envelope", "ch": "c", "params": {}, "data": [1.5, "\u2028<"]},
        {"kind": "done", "itemId": "i1", "groupId": "g1"},
        {"kind": "done", "itemId": "i1", "groupId": "g1", "error": "Error: boom"},
        {"kind": "group_done", "groupId": "g1"},
        {"kind": "cache_key", "method": "get", "path": "/users/:id", "query": "q=x", "vary": "u1"},
        {"kind": "cache_key", "method": "GET", "path": "/report", "query": [["b", "2"], ["a", "1"]], "vary": "u1"},
        {"kind": "cache_key", "method": "post", "path": "/p", "query": [["b", "2"], ["b", "1"], ["a", "0"]],
         "body": {"y": [{"b": 1, "a": 2}], "x": None}})
    with pytest.raises(InvalidArgumentError, match="params must be a JSON object"):
        envelope("c", 1, [1])  # type: ignore[arg-type]
