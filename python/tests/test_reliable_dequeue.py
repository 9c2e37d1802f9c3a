"""Beyond upstream: dequeue_reliable / ack / requeue_processing, sync and async (C API:
xr_chat_dequeue_reliable); entries wait in <prefix>:queue-processing:<id> until acknowledged."""

from __future__ import annotations

import asyncio

import pytest

from crossredis.chat import QueueEntry, RedisStateAdapter, ReliableQueueEntry, State


def test_sync(server, checker) -> None:
    with State(server.url, key_prefix="app") as st:
        for i in range(3):
            st.enqueue("t", QueueEntry(1, 10**13 + i, {"m": i}), 0)
        e = st.dequeue_reliable("t")
        assert isinstance(e, ReliableQueueEntry) and (e.enqueued_at, e.expires_at, e.message) == (1, 10**13, {"m": 0})
        assert e.raw == b'{"enqueued_at": 1, "expires_at": 10000000000000, "message": {"m": 0}}'
        assert checker.lrange("app:queue-processing:t", 0, -1) == [e.raw]
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


def test_async(server, checker) -> None:
    async def run() -> None:
        ad = RedisStateAdapter(server.url)
        await ad.connect()
        await ad.enqueue("t", QueueEntry(1, 10**13, {"m": 1}), 0)
        e, depth = await asyncio.gather(ad.dequeue_reliable("t"), ad.queue_depth("t"))  # one batch
        assert e is not None and e.message == {"m": 1} and depth == 0
        assert checker.llen("chat-sdk:queue-processing:t") == 1
        assert await ad.requeue_processing("t") == 1
        e2 = await ad.dequeue_reliable("t")
        assert await ad.ack("t", e2) is True
        assert checker.exists("chat-sdk:queue-processing:t", "chat-sdk:queue:t") == 0
        await ad.disconnect()

    asyncio.run(run())
