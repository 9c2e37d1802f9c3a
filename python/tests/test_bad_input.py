"""Bad input, huge values, closed clients and a server that went away: an exception, never a crash."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import RedisServer

import crossredis
from crossredis.chat import Lock, QueueEntry, RedisStateAdapter, State, StateNotConnectedError

ENTRY = QueueEntry(1, 2, {"m": 1})
LOCK = Lock("t", "redis_1_x", 0)

# (method, arguments with a bad one, the message)
BAD_CALLS = [
    ("subscribe", (123,), "thread_id must be a str, not int"),
    ("unsubscribe", (b"t",), "thread_id must be a str, not bytes"),
    ("is_subscribed", (None,), "thread_id must be a str, not NoneType"),
    ("acquire_lock", (1.5, 1000), "thread_id must be a str, not float"),
    ("acquire_lock", ("t", "1000"), "ttl_ms must be an int, not str"),
    ("release_lock", (object(),), "lock must be a Lock"),
    ("release_lock", (Lock(1, "x", 0),), "lock.thread_id must be a str, not int"),  # type: ignore[arg-type]
    ("extend_lock", (LOCK, None), "ttl_ms must be an int, not NoneType"),
    ("force_release_lock", (["t"],), "thread_id must be a str, not list"),
    ("get", (1,), "key must be a str, not int"),
    ("set", (1, "v"), "key must be a str, not int"),
    ("set", ("k", object()), "not JSON serializable"),
    ("set", ("k", "v", "10"), "ttl_ms must be an int, not str"),
    ("set_if_not_exists", (("k",), 1), "key must be a str, not tuple"),
    ("delete", (None,), "key must be a str, not NoneType"),
    ("append_to_list", (1, "v"), "key must be a str, not int"),
    ("get_list", (1,), "key must be a str, not int"),
    ("enqueue", (1, ENTRY, 10), "thread_id must be a str, not int"),
    ("enqueue", ("t", {"message": 1}, 10), "entry must be a QueueEntry"),
    ("enqueue", ("t", ENTRY, "10"), "max_size must be an int, not str"),
    ("dequeue", (1,), "thread_id must be a str, not int"),
    ("queue_depth", (1,), "thread_id must be a str, not int"),
    ("release_lock_if_queue_empty", (None,), "lock must be a Lock"),
]


@pytest.mark.parametrize("method,args,message", BAD_CALLS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD_CALLS)])
def test_bad_arguments_are_type_errors(server, checker, method, args, message) -> None:
    with State(server.url) as st:
        with pytest.raises(TypeError, match=message):
            getattr(st, method)(*args)

    async def run() -> None:
        a = RedisStateAdapter(server.url)
        await a.connect()
        with pytest.raises(TypeError, match=message):
            await getattr(a, method)(*args)
        await a.disconnect()

    asyncio.run(run())
    assert checker.dbsize() == 0  # nothing was sent


def test_bad_lock_arguments(server) -> None:
    with State(server.url) as st:
        with pytest.raises(TypeError, match="thread_id must be a str"):
            st.lock(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="wait must be >= 0"):
            st.lock("t", wait=-1)
        with pytest.raises(ValueError, match="ttl_ms must be at least 3"):
            st.lock("t", ttl_ms=1)
        with pytest.raises(crossredis.InvalidArgumentError):
            st.subscribe("")  # the core refuses an empty id
        with pytest.raises(TypeError, match="client must be a crossredis.Client"):
            State(client="redis://x")  # type: ignore[arg-type]


def test_huge_values(server, checker) -> None:
    big = "x" * (10 * 1024 * 1024) + "\u00e9"  # 10 MiB
    with State(server.url) as st:
        st.set("big", big)
        assert st.get("big") == big
        st.append_to_list("big", {"v": big})
        assert st.get_list("big") == [{"v": big}]
        st.enqueue("big", QueueEntry(1, 2, {"v": big}), 0)
        assert st.dequeue("big").message == {"v": big}
        raw = checker.get("chat-sdk:cache:big")
        assert len(raw) == 10 * 1024 * 1024 + 8 and raw.endswith(b'x\\u00e9"')

    async def run() -> None:
        a = RedisStateAdapter(server.url)
        await a.connect()
        await a.set("big2", big)
        got = await asyncio.gather(a.get("big2"), a.get("missing"))
        assert got == [big, None]
        await a.disconnect()

    asyncio.run(run())


def test_a_closed_client(server) -> None:
    c = crossredis.Client(server.url)
    st = State(client=c)
    c.close()
    with pytest.raises(crossredis.ClientClosedError):
        st.get("k")

    async def run() -> None:
        c2 = crossredis.Client(server.url)
        a = RedisStateAdapter(client=c2)
        await a.connect()
        c2.close()
        results = await asyncio.gather(a.get("k"), a.subscribe("t"), return_exceptions=True)
        assert all(isinstance(r, crossredis.ClientClosedError) for r in results), results
        with pytest.raises(crossredis.ClientClosedError):
            await a.acquire_lock("t", 1000, wait_ms=100)
        await a.disconnect()

    asyncio.run(run())


def test_disconnect_while_threads_call(server) -> None:
    st = State(server.url)
    outcomes: list[str] = []
    go = threading.Barrier(5)

    def work() -> None:
        go.wait()
        try:
            while True:
                st.set("k", 1)
        except (StateNotConnectedError, crossredis.ClientClosedError):
            outcomes.append("stopped")
        except BaseException as e:  # pragma: no cover
            outcomes.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    go.wait()
    time.sleep(0.1)
    st.disconnect()
    for t in threads:
        t.join(5)
    assert outcomes == ["stopped"] * 4


def test_server_gone() -> None:
    srv = RedisServer()
    try:
        st = State(srv.url, connect_timeout_ms=500, command_timeout_ms=500)
        st.set("k", 1)
        srv.stop()
        for _ in range(2):
            with pytest.raises(crossredis.ConnectionError):
                st.get("k")
        with pytest.raises(crossredis.ConnectionError):
            with st.lock("t"):
                pass
        st.close()
        with pytest.raises(crossredis.ConnectionError):
            State(srv.url, connect_timeout_ms=500)
    finally:
        srv.close()


def test_close_wakes_a_waiting_acquire(server) -> None:
    """Closing the client does not wait out a blocking acquire's ten minutes: the core wakes it
    (xr_client_shutdown) and it raises ClientClosedError; nothing is freed under it."""
    c = crossredis.Client(server.url)
    st = State(client=c)
    held = st.acquire_lock("t", 600000)
    assert held is not None
    outcome: list[object] = []
    started = threading.Event()

    def wait() -> None:
        started.set()
        try:
            outcome.append(st.acquire_lock("t", 30000, wait_ms=600000))
        except crossredis.ClientClosedError as e:
            outcome.append(e)

    th = threading.Thread(target=wait)
    th.start()
    started.wait()
    time.sleep(0.3)
    assert outcome == []  # still waiting
    c.close()
    th.join(60)  # a wait the close ignored would still be running here
    assert not th.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], crossredis.ClientClosedError), outcome
