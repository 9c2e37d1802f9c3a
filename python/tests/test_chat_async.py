"""The asyncio adapter: calls of one loop turn go out as one batch (test_chat_loop.py: where it runs); each
caller gets its own result or error; locks held for an ``async with`` block. On a standalone
server, a Sentinel set and a Cluster (``topo``) where the topology changes the path (a batch split
per node, routed, redirected); a server killed or a URL read from the environment: standalone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import RedisServer

import crossredis
from crossredis.chat import (
    Lock,
    LockLost,
    LockNotAcquired,
    QueueEntry,
    RedisStateAdapter,
    StateNotConnectedError,
)


def commandstats(checker) -> dict[str, int]:
    return {name[len("cmdstat_"):]: v["calls"] for name, v in checker.info("commandstats").items()}


async def connected(url: str, **kw) -> RedisStateAdapter:
    a = RedisStateAdapter(url, **kw)
    await a.connect()
    return a


class Ticks:
    """``async with Ticks() as ticks:`` counts in ``ticks.count`` the times a task got the loop
    (it asks every 10 ms), to show the loop ran while a call waited."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = False
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while not self._stop:
            self.count += 1
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> Ticks:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        await self._task


def test_64_concurrent_calls_go_out_as_batches(topo) -> None:
    checker = topo.checker

    async def run() -> None:
        a = await connected(topo.url, key_prefix=topo.prefix)
        own = topo.kind == "standalone"  # the shared topologies' counters are everyone's
        if own:
            checker.config_resetstat()
        # 32 different threads plus 32 callers racing for one
        ids = [f"t{i}" for i in range(32)] + ["same"] * 32
        locks = await asyncio.gather(*[a.acquire_lock(tid, 30000) for tid in ids])
        assert a.batcher is not None and a.batcher.exec_count < 64
        for tid, lock in zip(ids[:32], locks[:32]):
            assert isinstance(lock, Lock) and lock.thread_id == tid
            assert checker.get(topo.key(f"lock:{tid}")) == lock.token.encode()
        winners = [l for l in locks[32:] if l is not None]
        assert len(winners) == 1 and checker.get(topo.key("lock:same")) == winners[0].token.encode()
        if topo.kind == "cluster":  # one batch, split over the masters
            assert topo.masters_holding("lock:*") == 3
        held = [l for l in locks if l is not None]
        await asyncio.gather(*[a.release_lock(l) for l in held])
        assert topo.keys("lock:*") == []
        if own:
            stats = commandstats(checker)
            assert stats["set"] == 64  # every acquire arrived
            assert stats.get("eval", 0) + stats.get("evalsha", 0) == 33  # every release arrived
        assert a.batcher.exec_count <= 4 and a.batcher.op_count == 64 + 33
        await a.disconnect()

    asyncio.run(run())


def test_each_caller_gets_its_own_result_and_error(topo) -> None:
    async def run() -> None:
        a = await connected(topo.url, key_prefix=topo.prefix)
        topo.checker.rpush(topo.key("cache:a-list"), b"x")
        await a.set("k", {"v": 1})
        a.batcher.exec_count = 0
        results = await asyncio.gather(
            a.get("k"),
            a.get("a-list"),  # WRONGTYPE: its own error
            a.set_if_not_exists("k", 2),
            a.subscribe(""),  # an empty id: refused when added to the batch
            a.queue_depth("q"),
            a.enqueue("q", QueueEntry(1, 2, {"m": 1}), 10),
            a.dequeue("q"),
            a.is_subscribed("x"),
            a.get_list("none"),
            return_exceptions=True,
        )
        assert a.batcher.exec_count == 1
        assert results[0] == {"v": 1}
        assert isinstance(results[1], crossredis.WrongTypeError) and topo.key("cache:a-list") in str(results[1])
        assert results[2] is False
        assert isinstance(results[3], crossredis.InvalidArgumentError)
        assert results[4:] == [0, 1, QueueEntry(1, 2, {"m": 1}), False, []]
        await a.disconnect()

    asyncio.run(run())


def test_the_loop_does_not_wait_on_the_network(topo) -> None:
    async def run() -> None:
        a = await connected(topo.url, key_prefix=topo.prefix)
        async with Ticks() as ticks:
            topo.pause(topo.key("cache:k"), 400)  # the node answers nobody for 400 ms
            t0 = time.monotonic()
            assert await a.get("k") is None
            assert time.monotonic() - t0 >= 0.3
            assert ticks.count >= 3  # the loop ran meanwhile (a count, not a rate: no timing margin to lose)
            # a blocking acquire waits alone in a thread, the loop still runs
            topo.checker.set(topo.key("lock:w"), "other", px=300)
            ticks.count = 0
            lock = await a.acquire_lock("w", 30000, wait_ms=2000)
            assert lock is not None and ticks.count >= 15
        await a.disconnect()

    asyncio.run(run())


def test_a_connection_failure_fails_every_caller() -> None:
    srv = RedisServer()
    try:
        async def run() -> None:
            a = await connected(srv.url, connect_timeout_ms=500, command_timeout_ms=500)
            srv.stop()
            results = await asyncio.gather(a.get("k"), a.acquire_lock("t", 1000), a.queue_depth("q"),
                                           return_exceptions=True)
            assert all(isinstance(r, crossredis.ConnectionError) for r in results), results
            await a.disconnect()

        asyncio.run(run())
    finally:
        srv.close()


def test_not_connected_and_disconnected(topo) -> None:
    import chat_sdk.errors

    async def run() -> None:
        a = RedisStateAdapter(topo.url, key_prefix=topo.prefix)
        assert a.get_client() is None
        with pytest.raises(StateNotConnectedError, match="RedisStateAdapter is not connected") as err:
            await a.get("k")
        assert isinstance(err.value, chat_sdk.errors.StateNotConnectedError)  # what port users catch
        assert isinstance(err.value, crossredis.Error)
        await a.connect()
        await a.connect()  # idempotent
        await a.set("k", 1)
        client = a.get_client()
        await a.disconnect()
        await a.disconnect()
        assert client.closed  # its own client
        with pytest.raises(StateNotConnectedError):
            await a.get("k")
        await a.connect()  # again
        assert await a.get("k") == 1
        await a.disconnect()

        # a client passed in stays open
        with crossredis.Client(topo.url) as c:
            b = RedisStateAdapter(client=c, key_prefix=topo.prefix)
            await b.connect()
            assert b.get_client() is c and await b.get("k") == 1
            await b.disconnect()
            assert not c.closed and c.ping()

    asyncio.run(run())


def test_url_from_the_environment(server, monkeypatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="Redis url is required"):
        RedisStateAdapter()
    monkeypatch.setenv("REDIS_URL", server.url)

    async def run() -> None:
        a = RedisStateAdapter()
        await a.connect()
        assert a.get_client().address == f"127.0.0.1:{server.port}"
        await a.disconnect()

    asyncio.run(run())


def test_a_cancelled_waiting_acquire_gives_the_lock_back(topo) -> None:
    checker = topo.checker

    async def run() -> None:
        a = await connected(topo.url, key_prefix=topo.prefix)
        own = topo.kind == "standalone"  # the shared topologies' counters are everyone's
        if own:
            checker.config_resetstat()
        checker.set(topo.key("lock:t"), "other", px=300)
        task = asyncio.get_running_loop().create_task(a.acquire_lock("t", 30000, wait_ms=3000))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the waiting thread gets the lock once "other" expires, and gives it back
        await asyncio.sleep(1.0)
        assert checker.exists(topo.key("lock:t")) == 0
        if own:
            stats = commandstats(checker)
            assert stats.get("eval", 0) + stats.get("evalsha", 0) == 1  # the release script ran
        await a.disconnect()

    asyncio.run(run())


def test_async_with_lock_is_extended_released_and_reports_loss(topo) -> None:
    checker = topo.checker

    async def run() -> None:
        a = await connected(topo.url, key_prefix=topo.prefix)
        async with a.lock("t", ttl_ms=300) as held:
            assert held.token is not None and checker.get(topo.key("lock:t")) == held.token.encode()
            await asyncio.sleep(0.8)  # well past the TTL: the watchdog extended it
            assert checker.get(topo.key("lock:t")) == held.token.encode()
            assert not held.lost
        assert checker.exists(topo.key("lock:t")) == 0

        with pytest.raises(LockLost, match="t: the lock was lost"):
            async with a.lock("t", ttl_ms=300) as held:
                checker.set(topo.key("lock:t"), "someone-else")
                await asyncio.wait_for(held.lost_event.wait(), 2)
                assert held.lost
        assert checker.get(topo.key("lock:t")) == b"someone-else"  # not ours to release

        t0 = time.monotonic()
        with pytest.raises(LockNotAcquired, match="within 0.2 s"):
            async with a.lock("t", wait=0.2):
                pass
        assert time.monotonic() - t0 >= 0.19  # the core counts whole milliseconds
        checker.set(topo.key("lock:t"), "someone-else", px=200)
        async with a.lock("t", wait=2) as held:  # waits until it is free
            assert checker.get(topo.key("lock:t")) == held.token.encode()

        with pytest.raises(KeyError):  # the block's own error wins, the lock is released
            async with a.lock("u", ttl_ms=1000):
                raise KeyError("x")
        assert checker.exists(topo.key("lock:u")) == 0
        await a.disconnect()

    asyncio.run(run())


def test_a_loop_that_ends_with_a_batch_in_flight_leaves_nothing_held(topo) -> None:
    a = RedisStateAdapter(topo.url, key_prefix=topo.prefix)

    async def leave_one_in_flight() -> asyncio.Task:
        await a.connect()
        topo.pause(topo.key("cache:k"), 300)
        task = asyncio.get_running_loop().create_task(a.get("k"))
        await asyncio.sleep(0.05)  # the batch is running in the executor when the loop ends
        return task

    loop = asyncio.new_event_loop()
    task = loop.run_until_complete(leave_one_in_flight())
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()  # no executor shutdown, no more callbacks: the batch's result is never delivered
    # the guard was left by the executor thread, not the gone loop: disconnect does not hang
    done = threading.Event()
    threading.Thread(target=lambda: (asyncio.run(a.disconnect()), done.set()), daemon=True).start()
    assert done.wait(5)
    assert a.get_client().closed
