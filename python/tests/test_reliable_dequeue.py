"""Beyond upstream, the operations on two keys: dequeue_reliable / requeue_processing (C API:
xr_chat_dequeue_reliable; entries wait in <prefix>:queue-processing:<id> until ack()) and
release_lock_if_queue_empty (the lock and the queue in one script), sync and async, on each
topology. Upstream's key layout puts the two keys in different Cluster slots: there each refuses
with CrossSlotError before sending anything, and works under a hash-tagged prefix ("{chat-sdk}").
ack() touches the processing list alone and works anywhere."""

from __future__ import annotations

import asyncio

import pytest

import crossredis
from crossredis.chat import Lock, QueueEntry, RedisStateAdapter, ReliableQueueEntry, State


def usable(topo):
    """Where the two-key operations work: the topology as it is, or on a Cluster its hash-tagged
    twin (after checking that upstream's layout is refused there)."""
    return topo.tagged() if topo.kind == "cluster" else topo


def test_refused_across_cluster_slots(topo) -> None:
    """Upstream's layout: CrossSlotError on a Cluster, sync and in a batch (whose single-key calls
    still run); on one node (standalone, Sentinel) the same calls work."""
    cross = topo.kind == "cluster"
    with State(topo.url, key_prefix=topo.prefix) as st:
        st.enqueue("t", QueueEntry(1, 10**13, {"m": 1}), 0)
        lock = st.acquire_lock("t", 30000)
        if not cross:  # one node: both work
            assert st.release_lock_if_queue_empty(lock) == (False, 1)
            assert isinstance(st.dequeue_reliable("t"), ReliableQueueEntry)
            return
        calls = [lambda: st.release_lock_if_queue_empty(lock), lambda: st.dequeue_reliable("t"),
                 lambda: st.requeue_processing("t")]
        for call in calls:
            with pytest.raises(crossredis.CrossSlotError, match=rf"{topo.key('(lock|queue|queue-processing):t')}") as e:
                call()
            assert isinstance(e.value, crossredis.ResponseError)
            assert "slot" in str(e.value)
        # nothing was sent: the lock is held, the entry still queued
        assert topo.checker.get(topo.key("lock:t")) == lock.token.encode()
        assert st.queue_depth("t") == 1
        # ack touches the processing list alone (LREM): one key, fine anywhere
        assert st.ack("t", ReliableQueueEntry(1, 2, 1, raw=b"x")) is False

    async def run() -> None:
        a = RedisStateAdapter(topo.url, key_prefix=topo.prefix)
        await a.connect()
        got = await asyncio.gather(a.dequeue_reliable("t"), a.requeue_processing("t"), a.queue_depth("t"),
                                   a.release_lock_if_queue_empty(lock), return_exceptions=True)
        assert [type(g) for g in got] == [crossredis.CrossSlotError, crossredis.CrossSlotError, int,
                                          crossredis.CrossSlotError], got
        assert got[2] == 1  # the batch's single-key call still ran
        await a.disconnect()

    asyncio.run(run())


def test_sync(topo) -> None:
    t = usable(topo)
    with State(t.url, key_prefix=t.prefix) as st:
        for i in range(3):
            st.enqueue("t", QueueEntry(1, 10**13 + i, {"m": i}), 0)
        e = st.dequeue_reliable("t")
        assert isinstance(e, ReliableQueueEntry) and (e.enqueued_at, e.expires_at, e.message) == (1, 10**13, {"m": 0})
        assert e.raw == b'{"enqueued_at": 1, "expires_at": 10000000000000, "message": {"m": 0}}'
        assert t.checker.lrange(t.key("queue-processing:t"), 0, -1) == [e.raw]
        assert st.queue_depth("t") == 2
        assert st.ack("t", e) is True
        assert st.ack("t", e) is False
        a, b = st.dequeue_reliable("t"), st.dequeue_reliable("t")
        assert st.dequeue_reliable("t") is None
        assert st.requeue_processing("t") == 2
        assert [st.dequeue("t").message for _ in range(2)] == [{"m": 1}, {"m": 2}]
        with pytest.raises(TypeError, match="ReliableQueueEntry"):
            st.ack("t", QueueEntry(1, 2, {}))
        assert a is not None and b is not None


def test_async(topo) -> None:
    t = usable(topo)

    async def run() -> None:
        ad = RedisStateAdapter(t.url, key_prefix=t.prefix)
        await ad.connect()
        await ad.enqueue("t", QueueEntry(1, 10**13, {"m": 1}), 0)
        e, depth = await asyncio.gather(ad.dequeue_reliable("t"), ad.queue_depth("t"))  # one batch
        assert e is not None and e.message == {"m": 1} and depth == 0
        assert t.checker.llen(t.key("queue-processing:t")) == 1
        assert await ad.requeue_processing("t") == 1
        e2 = await ad.dequeue_reliable("t")
        assert await ad.ack("t", e2) is True
        assert t.checker.exists(t.key("queue-processing:t"), t.key("queue:t")) == 0
        await ad.disconnect()

    asyncio.run(run())


def test_release_lock_if_queue_empty(topo) -> None:
    t = usable(topo)
    checker = t.checker
    with State(t.url, key_prefix=t.prefix) as st:
        lock = st.acquire_lock("t", 30000)
        st.enqueue("t", QueueEntry(1, 2, {"m": 1}), 10)
        assert st.release_lock_if_queue_empty(lock) == (False, 1)
        assert checker.exists(t.key("lock:t")) == 1
        st.dequeue("t")
        assert st.release_lock_if_queue_empty(lock) == (True, 0)
        assert checker.exists(t.key("lock:t")) == 0
        assert st.release_lock_if_queue_empty(lock) == (False, -1)

    async def run() -> None:
        a = RedisStateAdapter(t.url, key_prefix=t.prefix)
        await a.connect()
        lock = await a.acquire_lock("t", 30000)
        assert isinstance(lock, Lock)
        assert await a.release_lock_if_queue_empty(lock) == (True, 0)
        assert checker.exists(t.key("lock:t")) == 0
        await a.disconnect()

    asyncio.run(run())
