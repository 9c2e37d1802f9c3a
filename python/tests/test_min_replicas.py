"""min_replicas (beyond upstream): a lock counts as acquired or extended only once that many
replicas acknowledged it (the core sends WAIT on the lock's connection). A master with one real
replica of the test's own: asking for one works (and WAIT is seen on the master), asking for two
fails with NoReplicasError and leaves no lock behind, sync and asyncio (where the core cannot give
the lock back from inside a batch and the binding does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
from conftest import RedisServer

import crossredis
from crossredis.chat import IoRedisStateAdapter, Lock, RedisStateAdapter, State, create_redis_state


class Replicated:
    """A master (replicas sync at once: no diskless delay) and one replica of it, in sync."""

    def __init__(self) -> None:
        self.master = RedisServer("--repl-diskless-sync-delay", "0")
        self.replica = RedisServer("--replicaof", "127.0.0.1", str(self.master.port))
        self.checker = redis.Redis(port=self.master.port)
        # the replica acknowledges writes (WAIT answers 1) only once it is in sync
        deadline = time.monotonic() + 20
        while True:
            self.checker.set("sync-probe", 1)
            if self.checker.execute_command("WAIT", 1, 100) == 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica never acknowledged a write (logs in {self.replica.dir})")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return self.master.url

    def waits(self) -> int:
        """WAIT commands the master ran so far."""
        return int(self.checker.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))

    def close(self) -> None:
        self.checker.close()
        self.replica.close()
        self.master.close()


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    r = Replicated()
    yield r
    r.close()


def test_acknowledged_locks_are_held_and_waited_for(replicated) -> None:
    chk = replicated.checker
    before = replicated.waits()
    with State(replicated.url, key_prefix="mr-sync", min_replicas=1, min_replicas_timeout_ms=2000) as st:
        assert st.min_replicas == 1
        lock = st.acquire_lock("t", 30000)
        assert isinstance(lock, Lock) and chk.get("mr-sync:lock:t") == lock.token.encode()
        assert st.extend_lock(lock, 30000) is True
        assert replicated.waits() == before + 2  # one WAIT behind the acquire, one behind the extend
        assert st.acquire_lock("t", 30000) is None  # held: refused as ever (a refusal waits for nobody)
        with st.lock("held", ttl_ms=300) as held:  # the watchdog's extensions wait too
            time.sleep(0.5)
            assert chk.get("mr-sync:lock:held") == held.token.encode() and not held.lost
        assert replicated.waits() >= before + 5
        st.release_lock(lock)
    # the default sends no WAIT
    before = replicated.waits()
    with State(replicated.url, key_prefix="mr-plain") as st:
        st.release_lock(st.acquire_lock("t", 30000))
    assert replicated.waits() == before


def test_unacknowledged_locks_are_not_held(replicated) -> None:
    chk = replicated.checker
    with State(replicated.url, key_prefix="mr-two", min_replicas=2, min_replicas_timeout_ms=300) as st:
        with pytest.raises(crossredis.NoReplicasError,
                           match="only 1 of 2 replicas acknowledged it within 300 ms: released, not held") as e:
            st.acquire_lock("t", 30000)
        assert isinstance(e.value, crossredis.ResponseError)
        assert chk.exists("mr-two:lock:t") == 0  # given back
        # a lock taken without the option, extended with it: still there, but not safely
        with State(replicated.url, key_prefix="mr-two") as plain:
            lock = plain.acquire_lock("u", 30000)
        with pytest.raises(crossredis.NoReplicasError, match="extended on the master, but only 1 of 2"):
            st.extend_lock(lock, 30000)
        assert chk.get("mr-two:lock:u") == lock.token.encode()


def test_asyncio_batches_wait_and_give_unacknowledged_locks_back(replicated) -> None:
    chk = replicated.checker

    async def run() -> None:
        before = replicated.waits()
        ok = RedisStateAdapter(replicated.url, key_prefix="mr-async", min_replicas=1, min_replicas_timeout_ms=2000)
        await ok.connect()
        locks = await asyncio.gather(*[ok.acquire_lock(f"t{i}", 30000) for i in range(16)])
        assert all(isinstance(lock, Lock) for lock in locks)
        assert ok.batcher.exec_count == 1  # one batch, one WAIT at its end covering every acquire
        assert replicated.waits() == before + 1
        assert await asyncio.gather(*[ok.extend_lock(lock, 30000) for lock in locks]) == [True] * 16
        await asyncio.gather(*[ok.release_lock(lock) for lock in locks])
        async with ok.lock("held", ttl_ms=300) as held:
            await asyncio.sleep(0.5)
            assert not held.lost
        await ok.disconnect()

        for make in (RedisStateAdapter, IoRedisStateAdapter, create_redis_state):
            two = make(replicated.url, key_prefix="mr-async2", min_replicas=2, min_replicas_timeout_ms=300)
            await two.connect()
            results = await asyncio.gather(*[two.acquire_lock(f"u{i}", 30000) for i in range(8)], two.get("x"),
                                           return_exceptions=True)
            for r in results[:8]:
                assert isinstance(r, crossredis.NoReplicasError), r
                assert "only 1 of 2 replicas acknowledged it within 300 ms: released, not held" in str(r), r
                assert "release it (token" not in str(r)
            assert results[8] is None  # the batch's other calls are not disturbed
            assert chk.keys("mr-async2:lock:*") == []  # every lock given back before the callers heard
            await two.disconnect()

    asyncio.run(run())


def test_a_batch_waits_for_the_replicas_once(replicated) -> None:
    """A batch of 16 acquires that too few replicas acknowledge answers within the client's command
    timeout: WAIT covers every earlier write of its connection, so one wait at the end of each
    connection's pipeline is enough (one WAIT behind each acquire would take 16 x 300 ms)."""

    async def run() -> None:
        a = RedisStateAdapter(replicated.url, key_prefix="mr-once", min_replicas=2, min_replicas_timeout_ms=300,
                              command_timeout_ms=1500)
        await a.connect()
        t0 = time.monotonic()
        results = await asyncio.gather(*[a.acquire_lock(f"t{i}", 30000) for i in range(16)], a.get("x"),
                                       return_exceptions=True)
        took = time.monotonic() - t0
        assert all(isinstance(r, crossredis.NoReplicasError) for r in results[:16]), results
        assert replicated.checker.keys("mr-once:lock:*") == []
        await a.disconnect()
        assert took < 1.5, f"16 unacknowledged acquires in one batch took {took:.1f} s (command timeout 1.5 s)"

    asyncio.run(run())


def test_bad_settings(replicated) -> None:
    for kw, error, words in [
        ({"min_replicas": -1}, crossredis.InvalidArgumentError, "min_replicas must be 0 (off) to 100, got -1"),
        ({"min_replicas": 101}, crossredis.InvalidArgumentError, "min_replicas must be 0 (off) to 100, got 101"),
        ({"min_replicas_timeout_ms": -5}, crossredis.InvalidArgumentError, "min_replicas_timeout_ms must be >= 0"),
        ({"min_replicas": 2**40}, crossredis.InvalidArgumentError,
         "min_replicas: 1099511627776 is out of range for a 32-bit integer"),
        ({"min_replicas": "1"}, TypeError, "min_replicas must be an int"),
        ({"min_replicas_timeout_ms": 1.5}, TypeError, "min_replicas_timeout_ms must be an int"),
    ]:
        for make in (State, RedisStateAdapter):
            with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
                make(replicated.url, **kw)  # refused when made, before connecting
    # WAIT holds the reply: its timeout must stay below the client's command timeout
    words = r"min_replicas_timeout_ms \(3000\) must be below the client's command timeout \(3000 ms\)"
    with pytest.raises(crossredis.InvalidArgumentError, match=words):
        State(replicated.url, min_replicas=1, min_replicas_timeout_ms=3000)

    async def run() -> None:
        a = RedisStateAdapter(replicated.url, min_replicas=1, min_replicas_timeout_ms=500, command_timeout_ms=400)
        with pytest.raises(crossredis.InvalidArgumentError, match="below the client's command timeout"):
            await a.connect()

    asyncio.run(run())
