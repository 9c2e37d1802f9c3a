"""The synchronous State: locks held for a ``with`` block (the core's watchdog on a thread),
blocking acquires, threads; on a standalone server, a Sentinel set and a Cluster (``topo``)."""

from __future__ import annotations

import threading
import time

import pytest

import crossredis
from crossredis.chat import Lock, LockLost, LockNotAcquired, State


def test_with_lock_is_extended_while_held_and_released(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        with st.lock("t", ttl_ms=300) as held:
            assert isinstance(held.lock, Lock) and held.thread_id == "t"
            assert checker.get(topo.key("lock:t")) == held.token.encode()
            first_expiry = held.expires_at
            time.sleep(0.8)  # well past the TTL
            assert checker.get(topo.key("lock:t")) == held.token.encode()
            assert 0 < checker.pttl(topo.key("lock:t")) <= 300
            assert held.expires_at > first_expiry
            assert not held.lost and not held.lost_event.is_set()
        assert checker.exists(topo.key("lock:t")) == 0
        assert not [t for t in threading.enumerate() if t.name.startswith("crossredis watchdog")]


def test_a_lost_lock_is_reported(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        with pytest.raises(LockLost, match="t: the lock was lost while held") as err:
            with st.lock("t", ttl_ms=300) as held:
                checker.delete(topo.key("lock:t"))
                assert held.lost_event.wait(2)
                assert held.lost
        assert isinstance(err.value, crossredis.Error)
        # the block's own exception wins over LockLost
        with pytest.raises(ValueError):
            with st.lock("t", ttl_ms=300) as held:
                checker.set(topo.key("lock:t"), "someone-else")
                held.lost_event.wait(2)
                raise ValueError("mine")
        assert checker.get(topo.key("lock:t")) == b"someone-else"


def test_wait_and_not_acquired(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        checker.set(topo.key("lock:t"), "someone-else")
        with pytest.raises(LockNotAcquired, match="t: the lock is held by another owner"):
            with st.lock("t"):
                pass
        t0 = time.monotonic()
        with pytest.raises(LockNotAcquired, match="within 0.3 s"):
            with st.lock("t", wait=0.3):
                pass
        assert 0.29 <= time.monotonic() - t0 < 1.5  # the core counts whole milliseconds
        assert issubclass(LockNotAcquired, crossredis.Error)
        checker.set(topo.key("lock:t"), "someone-else", px=200)
        with st.lock("t", wait=2) as held:
            assert checker.get(topo.key("lock:t")) == held.token.encode()
        checker.set(topo.key("lock:u"), "someone-else", px=200)
        lock = st.acquire_lock("u", 30000, wait_ms=2000)
        assert lock is not None and checker.get(topo.key("lock:u")) == lock.token.encode()


def test_max_lifetime_stops_extending(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        with st.lock("t", ttl_ms=300, max_lifetime_ms=300) as held:
            time.sleep(1.0)
            assert checker.exists(topo.key("lock:t")) == 0  # lived out its last TTL
            assert not held.lost  # finished, not lost


def test_a_blocked_acquire_does_not_stop_other_threads(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        checker.set(topo.key("lock:busy"), "someone-else")
        done = threading.Event()
        result: list[object] = []

        def blocked() -> None:
            result.append(st.acquire_lock("busy", 1000, wait_ms=3000))
            done.set()

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.05)
        for i in range(200):
            st.set(f"k{i}", i)
        # 200 commands ran while the other thread was inside its native wait: with the GIL held
        # there, none could have run before it returned
        assert not done.is_set()
        t.join()
        assert result == [None]


def test_blocked_calls_run_in_parallel(topo) -> None:
    checker = topo.checker
    """Four threads wait inside native calls at once (the GIL is released while C waits): each
    waits for its own held lock, this thread frees the locks in reverse order, and the waiters
    finish in that order. Were the GIL held during a wait, this thread could not free anything
    until that wait ran out (20 s), and the first waiter would finish first, empty-handed."""
    with State(topo.url, key_prefix=topo.prefix, pool_size=4) as st:
        for i in range(4):
            checker.set(topo.key(f"lock:par{i}"), "someone-else")
        finished: list[int] = []
        guard = threading.Lock()

        def wait_for(i: int) -> None:
            lock = st.acquire_lock(f"par{i}", 30000, wait_ms=20000)
            assert lock is not None
            with guard:
                finished.append(i)

        threads = [threading.Thread(target=wait_for, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # all four are inside acquire_lock (each retries every <= 250 ms)
        for i in reversed(range(4)):
            checker.delete(topo.key(f"lock:par{i}"))
            deadline = time.monotonic() + 10
            while i not in finished and time.monotonic() < deadline:  # its thread took it
                time.sleep(0.01)
        for t in threads:
            t.join()
        assert finished == [3, 2, 1, 0]


def test_many_threads_share_one_state(topo) -> None:
    checker = topo.checker
    with State(topo.url, key_prefix=topo.prefix) as st:
        errors: list[BaseException] = []
        acquired = [0]
        guard = threading.Lock()

        def work() -> None:
            try:
                for _ in range(100):
                    lock = st.acquire_lock("shared", 5000)
                    if lock is not None:
                        with guard:
                            acquired[0] += 1
                        st.release_lock(lock)
            except BaseException as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and acquired[0] > 0
        assert checker.exists(topo.key("lock:shared")) == 0


def test_lock_cycles_leave_memory_flat(server) -> None:
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def cycles(st: State, n: int, tid: str) -> None:
        for _ in range(n):
            st.release_lock(st.acquire_lock(tid, 30000))

    def run(st: State, total: int) -> None:
        threads = [threading.Thread(target=cycles, args=(st, total // 4, f"m{i}")) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with State(server.url, pool_size=4) as st:
        run(st, 10_000)
        before = rss()
        run(st, 100_000)
        grown = rss() - before
    assert grown < 5 * 1024 * 1024, f"RSS grew by {grown / 1024:.0f} KiB over 100,000 lock cycles"
