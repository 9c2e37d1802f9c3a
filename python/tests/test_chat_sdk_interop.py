"""crossredis's adapter handed to the real Python port (chat_sdk): its Chat class runs its own
lock, dedupe, queue and history flow on it; and what the port's own RedisStateAdapter
(redis.asyncio) writes is what crossredis's writes, each reading the other's."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from chatdata import THREAD, captured_message

from crossredis.chat import IoRedisStateAdapter, Lock, RedisStateAdapter, create_redis_state

import chat_sdk  # noqa: E402  (installed by the bootstrap: missing is a failure, not a skip)
from chat_sdk import Chat  # noqa: E402
from chat_sdk.errors import LockError  # noqa: E402
from chat_sdk.state.redis import RedisStateAdapter as PortAdapter  # noqa: E402
from chat_sdk.testing import MockLogger, create_mock_adapter, create_test_message  # noqa: E402
from chat_sdk.types import Lock as PortLock  # noqa: E402
from chat_sdk.types import QueueEntry as PortQueueEntry  # noqa: E402
from chat_sdk.types import StateAdapter  # noqa: E402

# values that exercise the JSON dialect: non-ASCII, astral, escapes, numbers, nesting
VALUES = [
    {"foo": "b\u00e4r", "n": 1},
    True,
    None,
    "plain",
    "\u2028\x7f\x00\x1f\"\\/ \U0001F600 \u00e9",
    [1, -0.0, 0.1, 1e21, 1.5e-7, 2**63 - 1, -(2**63), 3.141592653589793],
    {"nested": {"a": [], "b": {}, "c": [{"d": "e"}]}, "": 0},
]


def test_the_adapter_satisfies_the_ports_protocol(server) -> None:
    for cls in (RedisStateAdapter, IoRedisStateAdapter):
        assert isinstance(cls(server.url), StateAdapter)
    assert isinstance(create_redis_state(server.url, key_prefix="x"), RedisStateAdapter)


def test_the_ports_chat_runs_its_flow_on_crossredis(server, checker) -> None:
    async def run() -> None:
        state = RedisStateAdapter(server.url)
        adapter = create_mock_adapter("slack")
        adapter.persist_message_history = True
        chat = Chat(user_name="bot", adapters={"slack": adapter}, state=state, concurrency="queue",
                    logger=MockLogger())
        calls: list[tuple[str, list[str]]] = []
        gate = asyncio.Event()

        async def handler(thread, message, context=None) -> None:
            calls.append((message.id, [m.id for m in context.skipped] if context else []))
            await thread.subscribe()
            if message.id == "m1":
                await gate.wait()

        chat.on_mention(handler)
        chat.on_subscribed_message(handler)  # after m1, the thread is subscribed (is_subscribed)

        await chat.initialize()
        msg = lambda i: create_test_message(i, f"hello {i}", thread_id=THREAD, is_mention=True)  # noqa: E731
        first = asyncio.get_running_loop().create_task(chat.handle_incoming_message(adapter, THREAD, msg("m1")))
        while not calls:
            await asyncio.sleep(0.01)
        # m1's handler holds the lock: the next messages queue up, a duplicate is dropped
        token = checker.get(f"chat-sdk:lock:{THREAD}")
        assert re.fullmatch(rb"redis_\d{13}_[0-9a-f]{32}", token)
        await chat.handle_incoming_message(adapter, THREAD, msg("m2"))
        await chat.handle_incoming_message(adapter, THREAD, msg("m3"))
        await chat.handle_incoming_message(adapter, THREAD, msg("m2"))
        assert checker.llen(f"chat-sdk:queue:{THREAD}") == 2
        entry = checker.lindex(f"chat-sdk:queue:{THREAD}", 0)
        assert entry.startswith(b'{"enqueued_at": ') and b'"message": {"_type": "chat:Message", "id": "m2"' in entry
        gate.set()
        await first
        # the holder drained the queue: the newest message, with the one it skipped
        assert calls == [("m1", []), ("m3", ["m2"])]
        assert checker.exists(f"chat-sdk:lock:{THREAD}", f"chat-sdk:queue:{THREAD}") == 0
        assert checker.get("chat-sdk:cache:dedupe:slack:m2") == b"true"
        assert 0 < checker.pttl("chat-sdk:cache:dedupe:slack:m2") <= 300000
        assert checker.sismember("chat-sdk:subscriptions", THREAD)
        history = checker.lrange(f"chat-sdk:list:msg-history:{THREAD}", 0, -1)
        assert len(history) == 3 and all(h.startswith(b'{"_type": "chat:Message", ') for h in history)
        assert [m.id for m in await chat._message_history.get_messages(THREAD)] == ["m1", "m2", "m3"]

        # the drop strategy: a held lock makes the port raise its LockError
        drop = Chat(user_name="bot", adapters={"slack": adapter}, state=state, logger=MockLogger())
        await drop.initialize()
        held = await state.acquire_lock("slack:C9:1", 30000)
        with pytest.raises(LockError):
            await drop.handle_incoming_message(adapter, "slack:C9:1",
                                               create_test_message("m9", "x", thread_id="slack:C9:1"))
        await state.release_lock(held)
        await chat.shutdown()
        assert state.get_client().closed

    asyncio.run(run())


def test_same_bytes_as_the_ports_adapter(server, checker) -> None:
    async def run() -> None:
        port = PortAdapter(url=server.url, key_prefix="port")
        ours = RedisStateAdapter(server.url, key_prefix="ours")
        await port.connect()
        await ours.connect()
        now = int(time.time() * 1000)
        message = captured_message()
        for a in (port, ours):
            await a.subscribe(THREAD)
            for i, v in enumerate(VALUES):
                await a.set(f"v{i}", v)
                await a.append_to_list("l", v)
            assert await a.set_if_not_exists("d", True, 1000)
            await a.enqueue(THREAD, PortQueueEntry(enqueued_at=now, expires_at=now + 90000, message=message), 10)
            await a.enqueue(THREAD, PortQueueEntry(enqueued_at=now, expires_at=now + 90000,
                                                   message={"plain": VALUES[4]}), 10)
        for i in range(len(VALUES)):
            assert checker.get(f"ours:cache:v{i}") == checker.get(f"port:cache:v{i}"), VALUES[i]
        assert checker.lrange("ours:list:l", 0, -1) == checker.lrange("port:list:l", 0, -1)
        assert checker.get("ours:cache:d") == checker.get("port:cache:d") == b"true"
        assert checker.lrange(f"ours:queue:{THREAD}", 0, -1) == checker.lrange(f"port:queue:{THREAD}", 0, -1)
        assert checker.smembers("ours:subscriptions") == checker.smembers("port:subscriptions")
        for a in (port, ours):
            lock = await a.acquire_lock(THREAD, 30000)
            assert re.fullmatch(r"redis_\d{13}_[0-9a-f]{32}", lock.token)
        await port.disconnect()
        await ours.disconnect()

    asyncio.run(run())


def test_each_reads_what_the_other_wrote(server, checker) -> None:
    async def run() -> None:
        port = PortAdapter(url=server.url)
        ours = RedisStateAdapter(server.url)
        await port.connect()
        await ours.connect()
        now = int(time.time() * 1000)
        message = captured_message()
        for writer, reader in ((port, ours), (ours, port)):
            for i, v in enumerate(VALUES):
                await writer.set(f"v{i}", v)
            await writer.append_to_list("l", VALUES[0])
            await writer.subscribe(THREAD)
            await writer.enqueue(THREAD, PortQueueEntry(enqueued_at=now, expires_at=now + 90000, message=message), 10)
            for i, v in enumerate(VALUES):
                assert await reader.get(f"v{i}") == v
            assert await reader.get_list("l") == [VALUES[0]]
            assert await reader.is_subscribed(THREAD)
            assert await reader.queue_depth(THREAD) == 1
            entry = await reader.dequeue(THREAD)
            assert (entry.enqueued_at, entry.expires_at) == (now, now + 90000)
            assert type(entry.message) is type(message) and entry.message.to_json() == message.to_json()
            # a lock taken by one is extended and released by the other, with either Lock class
            lock = await writer.acquire_lock(THREAD, 30000)
            assert await reader.acquire_lock(THREAD, 30000) is None
            as_other = (Lock if reader is ours else PortLock)(lock.thread_id, lock.token, lock.expires_at)
            assert await reader.extend_lock(as_other, 5000) is True
            await reader.release_lock(as_other)
            assert checker.exists(f"chat-sdk:lock:{THREAD}") == 0
            await writer.unsubscribe(THREAD)
            await writer.delete("l")
            checker.delete("chat-sdk:list:l")
        await port.disconnect()
        await ours.disconnect()

    asyncio.run(run())
