"""The asyncio adapter's batches on the event loop itself (crossredis._loop over loop.h's pollable
contract): a client's connection per loop, driven by the loop with no executor hop, and what
becomes of a batch on it when the adapter or the client closes, the loop ends, a caller gives up,
the server closes the connection or stops answering, and the process forks. The batches, a
disconnect and a cancelled caller run on each topology (``topo``: on a Cluster the loop's
connection is one per node under one epoll descriptor); what needs a server of its own (long
pauses, connections killed by name, a fork) runs on the standalone one."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import crossredis
from crossredis.chat import Lock, RedisStateAdapter

from test_chat_async import Ticks, commandstats


async def warmed(url: str | None = None, a: RedisStateAdapter | None = None, **kw) -> RedisStateAdapter:
    """An adapter (``a``, or a new one for ``url``) connected, whose connection for the running
    loop is open: the loop's first batch runs in an executor thread and opens it there, the second
    runs on it."""
    a = a or RedisStateAdapter(url, **kw)
    await a.connect()
    assert await a.get("warm") is None
    assert await a.get("warm") is None
    assert (a.batcher.exec_count, a.batcher.loop_count) == (2, 1)
    return a


async def in_flight(a: RedisStateAdapter, checker, pause_ms: int, call, key: str | None = None) -> asyncio.Task:
    """``call`` (a coroutine) sent on the loop's connection and held there: the server pauses
    (``checker`` a Topo: the node serving ``key``)."""
    sent = a.batcher.loop_count
    if key is not None:
        checker.pause(key, pause_ms)
    else:
        pause(checker, pause_ms)
    task = asyncio.get_running_loop().create_task(call)
    await asyncio.sleep(0.05)
    assert a.batcher.loop_count == sent + 1 and not task.done()
    return task


def named(checker, name: str) -> list[dict]:
    return [c for c in checker.client_list() if c["name"] == name]


def pause(checker, ms: int) -> None:
    """The server answers nobody (but replicas) for ms; the calls sent meanwhile wait."""
    checker.execute_command("CLIENT", "PAUSE", ms)


def test_batches_run_on_the_loop_connection(topo) -> None:
    checker = topo.checker
    own = topo.kind == "standalone"  # a server of its own: its connections can be counted

    async def run() -> None:
        a = await warmed(topo.url, client_name="xr-loop", key_prefix=topo.prefix)
        ids = [f"t{i}" for i in range(64)]
        locks = await asyncio.gather(*[a.acquire_lock(tid, 30000) for tid in ids])
        assert [lock.thread_id for lock in locks] == ids
        assert all(checker.get(topo.key(f"lock:{lock.thread_id}")) == lock.token.encode() for lock in locks)
        await asyncio.gather(*[a.release_lock(lock) for lock in locks])
        assert topo.keys("lock:*") == []
        b = a.batcher
        assert (b.exec_count, b.loop_count, b.largest) == (4, 3, 64)
        if own:
            assert len(named(checker, "xr-loop")) == 2  # the pooled one the first batch used, the loop's

        def another_loop() -> int:
            async def calls() -> int:
                for _ in range(3):
                    assert await asyncio.gather(a.set("x", 1), a.get("x")) == [None, 1]
                return a.batcher.loop_count
            return asyncio.run(calls())

        done: list[int] = []
        t = threading.Thread(target=lambda: done.append(another_loop()))
        t.start()
        t.join()
        assert done == [2]  # its first batch in a thread, the next two on its own connection
        if own:
            assert len(named(checker, "xr-loop")) == 3
        await a.disconnect()
        if own:
            assert named(checker, "xr-loop") == []  # every connection closed, the loops' too

    asyncio.run(run())


def test_disconnect_waits_for_a_batch_on_the_loop(topo) -> None:
    async def run() -> None:
        a = await warmed(topo.url, key_prefix=topo.prefix)
        await a.set("k", "v")
        task = await in_flight(a, topo, 300, a.get("k"), key=topo.key("cache:k"))
        await a.disconnect()  # the loop runs meanwhile and finishes the batch
        assert task.done() and task.result() == "v"
        assert a.get_client().closed

    asyncio.run(run())


def test_closing_the_client_on_its_loop_fails_the_batch_there(server, checker) -> None:
    async def run() -> None:
        c = crossredis.Client(server.url, client_name="xr-close")
        a = await warmed(a=RedisStateAdapter(client=c))
        task = await in_flight(a, checker, 1000, a.get("k"))
        t0 = time.monotonic()
        c.close()  # here, on the loop's thread: the loop cannot finish the batch while close waits
        assert time.monotonic() - t0 < 0.9  # it did not wait for the server's pause to end
        with pytest.raises(crossredis.ClientClosedError, match="closed"):
            await task
        with pytest.raises(crossredis.ClientClosedError):
            await a.get("k")
        checker.ping()  # after the pause
        assert named(checker, "xr-close") == []
        await a.disconnect()

    asyncio.run(run())


def test_a_loop_that_ends_with_a_batch_on_its_connection_leaves_nothing_held(server, checker) -> None:
    a = RedisStateAdapter(server.url, client_name="xr-ended")

    async def leave_one_in_flight() -> asyncio.Task:
        await warmed(a=a)
        return await in_flight(a, checker, 300, a.get("k"))  # when the loop ends

    loop = asyncio.new_event_loop()
    task = loop.run_until_complete(leave_one_in_flight())
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()  # no more callbacks: nothing will drive the batch
    # disconnect (in another thread and loop) fails the batch nobody drives, so it does not hang
    done = threading.Event()
    threading.Thread(target=lambda: (asyncio.run(a.disconnect()), done.set()), daemon=True).start()
    assert done.wait(5)
    assert a.get_client().closed
    checker.ping()
    assert named(checker, "xr-ended") == []


def test_a_cancelled_caller_on_the_loop_gets_nothing_and_its_lock_is_given_back(topo) -> None:
    checker = topo.checker
    own = topo.kind == "standalone"  # the shared topologies' counters are everyone's

    async def run() -> None:
        a = await warmed(topo.url, key_prefix=topo.prefix)
        if own:
            checker.config_resetstat()
        task = await in_flight(a, topo, 200, a.acquire_lock("t", 30000), key=topo.key("lock:t"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.4)  # the reply comes after the pause: the lock was acquired
        assert checker.exists(topo.key("lock:t")) == 0  # and given back
        if own:
            stats = commandstats(checker)
            assert stats["set"] == 1 and stats.get("eval", 0) + stats.get("evalsha", 0) == 1
        assert a.batcher.loop_count == 3
        # a caller that gives up before its loop turn ends sends nothing
        task = asyncio.get_running_loop().create_task(a.acquire_lock("u", 30000))
        await asyncio.sleep(0)
        task.cancel()
        assert await a.get("k") is None
        assert checker.exists(topo.key("lock:u")) == 0
        if own:
            assert commandstats(checker)["set"] == 1
        await a.disconnect()

    asyncio.run(run())


def test_a_server_that_closes_the_loop_connection(server, checker) -> None:
    async def run() -> None:
        a = await warmed(server.url, client_name="xr-kill")
        await a.set("k", 1)
        b = a.batcher

        def kill_the_loops_connection() -> None:
            newest = max(named(checker, "xr-kill"), key=lambda c: int(c["id"]))
            checker.client_kill_filter(_id=newest["id"])

        # idle: the loop notices at once; the next batch goes to a pooled connection in a
        # thread, and opens the loop's next connection there
        kill_the_loops_connection()
        await asyncio.sleep(0.1)
        loop_count = b.loop_count
        assert await a.get("k") == 1
        assert b.loop_count == loop_count
        assert await asyncio.gather(a.get("k"), a.queue_depth("q")) == [1, 0]
        assert b.loop_count == loop_count + 1

        # closed just before a batch starts on it: that batch fails as a lost connection (a
        # pooled connection fails the same way); the next ones succeed
        kill_the_loops_connection()
        results = await asyncio.gather(a.get("k"), a.queue_depth("q"), return_exceptions=True)
        assert results == [1, 0] or all(isinstance(r, crossredis.ConnectionLostError) for r in results), results
        for _ in range(3):
            assert await asyncio.gather(a.get("k"), a.queue_depth("q")) == [1, 0]
        assert b.loop_count >= loop_count + 2
        assert len(named(checker, "xr-kill")) == 2
        await a.disconnect()

    asyncio.run(run())


def test_a_command_timeout_on_the_loop_connection(server, checker) -> None:
    async def run() -> None:
        a = await warmed(server.url, command_timeout_ms=300)
        async with Ticks() as ticks:
            pause(checker, 1000)
            t0 = time.monotonic()
            results = await asyncio.gather(a.get("k"), a.queue_depth("q"), return_exceptions=True)
            waited = time.monotonic() - t0
        assert a.batcher.loop_count == 2
        want = f"timeout after 300 ms waiting for a reply from 127.0.0.1:{server.port}"
        assert all(isinstance(r, crossredis.TimeoutError) and str(r) == want for r in results), results
        assert 0.29 <= waited < 0.9  # the deadline came from the connection, before the pause ended
        assert ticks.count >= 5  # the loop ran while it waited
        checker.ping()  # the pause is over
        for _ in range(3):  # a pooled connection in a thread, then the loop's next connection
            assert await asyncio.gather(a.set("k", 2), a.get("k")) == [None, 2]
        assert a.batcher.loop_count == 4
        await a.disconnect()

    asyncio.run(run())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_connections_of_its_own(server, checker) -> None:
    """Forked while the parent's loop runs with its connection open: the child, on a loop of its
    own, never uses the parent's connection, and closing the adapter there leaves the parent's
    connection (and its loop's watch) alone."""
    a = RedisStateAdapter(server.url, client_name="xr-fork")

    async def use(who: str) -> int:
        for i in range(3):
            locks = await asyncio.gather(*[a.acquire_lock(f"{who}{j}", 30000) for j in range(8)])
            assert all(isinstance(lock, Lock) for lock in locks)
            assert await asyncio.gather(a.set(f"{who}-k", i), a.get(f"{who}-k")) == [None, i]
            await asyncio.gather(*[a.release_lock(lock) for lock in locks])
        return a.batcher.loop_count

    async def child() -> int:
        n = await use("child")
        await a.disconnect()
        return n

    async def parent() -> None:
        await a.connect()
        assert await use("parent") == 8  # 9 batches: the first in a thread, then on the loop
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                done: list[int] = []
                t = threading.Thread(target=lambda: done.append(asyncio.run(child())), daemon=True)
                t.start()
                t.join(10)
                code = 0 if done == [8] else 2
            finally:
                os._exit(code)
        _, status = await asyncio.get_running_loop().run_in_executor(None, os.waitpid, pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert checker.get("chat-sdk:cache:child-k") == b"2"
        assert await use("parent") == 17  # the parent's loop connection, still there
        await a.disconnect()

    asyncio.run(parent())
    assert checker.keys("chat-sdk:lock:*") == []
    assert named(checker, "xr-fork") == []
