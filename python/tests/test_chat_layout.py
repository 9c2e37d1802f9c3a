"""The Chat SDK state's opt-in tagged layout (``layout="tagged"``; C API XR_CHAT_LAYOUT_TAGGED):
a thread's lock, queue and processing list under ``<prefix>:lock:{<id>}``, ``:queue:{<id>}`` and
``:queue-processing:{<id>}``, so the two-key operations run on a Cluster (where upstream's layout
refuses them with CrossSlotError), on each topology, sync and async; the option's values are the
core's to check (its message, the layouts' names); the default stays upstream's; the bridge layout
(``layout="bridge"``: both layouts' keys in one script, one node only) excludes holders of either
layout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import crossredis
from crossredis.chat import QueueEntry, RedisStateAdapter, State

THREAD = "slack:C123:1700000000.000100"
ROOT = Path(__file__).resolve().parents[2]
CROSSREDIS = ROOT / "build" / "cli" / "crossredis"


def test_tagged_keys_and_two_key_operations(topo) -> None:
    with State(topo.url, key_prefix=topo.prefix, layout="tagged") as st:
        assert st.layout == "tagged"
        lock = st.acquire_lock(THREAD, 30000)
        assert lock is not None
        assert topo.checker.get(topo.key("lock:{" + THREAD + "}")) == lock.token.encode()
        assert topo.checker.exists(topo.key("lock:" + THREAD)) == 0
        assert st.enqueue(THREAD, QueueEntry(1, 10**13, {"m": 1}), 10) == 1
        assert topo.checker.llen(topo.key("queue:{" + THREAD + "}")) == 1
        # the lock stays while the queue holds an entry; the reliable dequeue moves it aside
        assert st.release_lock_if_queue_empty(lock) == (False, 1)
        entry = st.dequeue_reliable(THREAD)
        assert entry is not None and entry.message == {"m": 1}
        assert topo.checker.llen(topo.key("queue-processing:{" + THREAD + "}")) == 1
        assert st.requeue_processing(THREAD) == 1
        entry = st.dequeue_reliable(THREAD)
        assert st.ack(THREAD, entry) is True
        assert st.release_lock_if_queue_empty(lock) == (True, 0)
        # subscriptions and cache keys are upstream's
        st.subscribe(THREAD)
        st.set("thread-state:" + THREAD, {"a": 1})
        assert topo.checker.sismember(topo.key("subscriptions"), THREAD)
        assert topo.checker.exists(topo.key("cache:thread-state:" + THREAD)) == 1

    async def run() -> None:
        a = RedisStateAdapter(topo.url, key_prefix=topo.prefix, layout="tagged")
        await a.connect()
        lock = await a.acquire_lock("t2", 30000)
        await a.enqueue("t2", QueueEntry(1, 10**13, {"m": 2}), 10)
        got = await asyncio.gather(a.dequeue_reliable("t2"), a.requeue_processing("t3"))
        assert got[0].message == {"m": 2} and got[1] == 0
        assert await a.release_lock_if_queue_empty(lock) == (True, 0)
        await a.disconnect()

    asyncio.run(run())


def test_upstream_layout_still_refused_on_a_cluster(topo) -> None:
    """The default layout is upstream's: its keys, and on a Cluster CrossSlotError."""
    with State(topo.url, key_prefix=topo.prefix) as st:
        assert st.layout == "upstream"
        lock = st.acquire_lock(THREAD, 30000)
        assert topo.checker.get(topo.key("lock:" + THREAD)) == lock.token.encode()
        if topo.kind == "cluster":
            with pytest.raises(crossredis.CrossSlotError):
                st.release_lock_if_queue_empty(lock)
        else:
            assert st.release_lock_if_queue_empty(lock) == (True, 0)


def test_layout_values_are_the_cores() -> None:
    with pytest.raises(crossredis.InvalidArgumentError,
                       match=r'^chat: layout must be "upstream", "tagged" or "bridge", got "sharded"$'):
        State("redis://127.0.0.1:1", layout="sharded")
    with pytest.raises(TypeError, match="layout must be a str, not int"):
        State("redis://127.0.0.1:1", layout=1)  # type: ignore[arg-type]
    with pytest.raises(crossredis.InvalidArgumentError, match=r"key_prefix '\{app\}' holds '\{'"):
        RedisStateAdapter("redis://127.0.0.1:1", key_prefix="{app}", layout="tagged")
    RedisStateAdapter("redis://127.0.0.1:1", key_prefix="{app}")  # upstream's layout takes it


def test_ids_the_tagged_layout_refuses(topo) -> None:
    with State(topo.url, key_prefix=topo.prefix, layout="tagged") as st:
        with pytest.raises(crossredis.InvalidArgumentError, match="may not start with '}'"):
            st.acquire_lock("}x", 30000)
        lock = st.acquire_lock("a}b", 30000)  # the tag is "a": still one slot for the thread
        assert st.release_lock_if_queue_empty(lock) == (True, 0)


def test_bridge_layout(topo) -> None:
    """The bridge holds both layouts' locks, so neither layout's holder gets the thread; an entry
    queued while an upstream-layout holder has it goes to that holder's queue. CrossSlotError on a
    Cluster."""
    with State(topo.url, key_prefix=topo.prefix, layout="bridge") as br, \
            State(topo.url, key_prefix=topo.prefix) as up, \
            State(topo.url, key_prefix=topo.prefix, layout="tagged") as tg:
        assert br.layout == "bridge"
        if topo.kind == "cluster":
            with pytest.raises(crossredis.CrossSlotError):
                br.acquire_lock(THREAD, 30000)
            return
        lock = br.acquire_lock(THREAD, 30000)
        assert topo.checker.get(topo.key("lock:" + THREAD)) == lock.token.encode()
        assert topo.checker.get(topo.key("lock:{" + THREAD + "}")) == lock.token.encode()
        assert up.acquire_lock(THREAD, 30000) is None and tg.acquire_lock(THREAD, 30000) is None
        assert br.release_lock_if_queue_empty(lock) == (True, 0)
        held = up.acquire_lock(THREAD, 30000)
        assert br.acquire_lock(THREAD, 30000) is None
        assert br.enqueue(THREAD, QueueEntry(1, 10**13, {"m": 1}), 10) == 1
        assert up.dequeue(THREAD).message == {"m": 1}
        up.release_lock(held)


def test_drain_based_cut_over(topo, tmp_path: Path) -> None:
    """README's move for a Cluster (here on each topology): the upstream-layout workers stop, their
    locks go (crossredis drain), `crossredis migrate copy` moves the queued entries to the tagged
    shape with families/chat-tagged.json (its prefix changed to the test's), verify finds no old
    queue, and tagged-layout workers deliver every entry, with the two-key operations."""
    now = int(time.time() * 1000)
    with State(topo.url, key_prefix=topo.prefix) as up:
        for i in range(4):
            held = up.acquire_lock(f"t{i}", 30000)
            for j in range(3):
                up.enqueue(f"t{i}", QueueEntry(now, now + 90000, {"i": i, "j": j}), 10)
            up.release_lock(held)  # the worker stops
    fam = tmp_path / "families.json"
    fam.write_text((ROOT / "families" / "chat-tagged.json").read_text().replace("chat-sdk:", topo.prefix + ":"))
    env = {**os.environ, "REDIS_URL": topo.url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CROSSREDIS), *args], env=env, capture_output=True, text=True, timeout=60)

    assert cli("drain", "--origin", "python-redis", "--prefix", topo.prefix, "--timeout", "5").returncode == 0
    assert cli("migrate", "verify", "--family", str(fam), "--name", "chat-queue").returncode == 1
    copy = cli("migrate", "copy", "--family", str(fam), "--name", "chat-queue", "--all", "--apply", "--json")
    assert copy.returncode == 0, copy.stderr
    assert json.loads(copy.stdout)["copied"] == 4
    assert cli("migrate", "verify", "--family", str(fam), "--name", "chat-queue").returncode == 0
    with State(topo.url, key_prefix=topo.prefix, layout="tagged") as tg:
        got = []
        for i in range(4):
            lock = tg.acquire_lock(f"t{i}", 30000)
            while (e := tg.dequeue_reliable(f"t{i}")) is not None:
                got.append(e.message)
                assert tg.ack(f"t{i}", e)
            assert tg.release_lock_if_queue_empty(lock) == (True, 0)
    assert got == [{"i": i, "j": j} for i in range(4) for j in range(3)]
