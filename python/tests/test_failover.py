"""Failover under load, on topologies of the test's own (xr-topology --sentinel / --cluster: the
shared ones are never failed over). 64 asyncio tasks on one RedisStateAdapter and 4 threads on
one State run lock cycles (acquire, extend, release, on 8 lock ids they contend for) and queue
cycles (enqueue an entry with a unique id, dequeue one) while the master is failed over twice:

- Sentinel: SENTINEL FAILOVER, then kill -9 of the new master (the sentinels promote another);
- Cluster: CLUSTER FAILOVER on a replica, then kill -9 of that new master (its replica, the old
  master, is promoted back).

The killed node is restarted as a replica of the master that replaced it, as an operator would, so
that min_replicas (all the replicas a master has: 2 under Sentinel, 1 in the Cluster) can be met
again. One run per topology (a module fixture) feeds two tests:

- ``test_*_failover_keeps_locks_safe_and_resumes``: every call succeeds or fails with a crossredis
  error class (never another exception, a crash, or a call past a generous bound); no two holders
  of one lock at once among the acquires the client acknowledged (the intervals each thread id
  recorded: from the acquire's reply to the release's send or the TTL's end, whichever is first);
  service (a successful call, and an acquired lock) resumes.
- ``test_*_failover_dequeues_each_entry_once``: no queue entry dequeued twice on the Cluster; under
  Sentinel, none before the first failover, and the ones dequeued twice during it counted: a pop
  the old master ran between the promotion and the client's move (the client moves at the
  sentinels' +promoted-slave) or one a killed master had not replicated is lost with that master,
  and the entry comes again from the new one (asynchronous replication; min_replicas covers the
  locks).

Printed (not asserted): errors by operation and class, the longest time without service and
without a lock, the longest call."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import redis
from conftest import TopologyProcess, terminate

import crossredis
from crossredis.chat import QueueEntry, RedisStateAdapter, State

LOCK_IDS = [f"L{i}" for i in range(8)]
QUEUES = [f"Q{i}" for i in range(4)]
TTL_MS = 2000
TASKS, THREADS = 64, 4
OP_BOUND_S = 15.0  # no call may take longer (command timeout 1 s, connect 1 s; see WAIT_MS)
CLIENT = {"command_timeout_ms": 1000, "connect_timeout_ms": 1000}
# The core waits WAIT_MS after each lock write of a pipeline whose replicas do not acknowledge it, one
# after the other (test_min_replicas.py, test_a_batch_waits_for_the_replicas_once): 100 ms keeps a
# batch of 64 such acquires at 6.4 s.
WAIT_MS = 100


@dataclass
class Record:
    """What the workers saw, from any thread."""

    guard: threading.Lock = field(default_factory=threading.Lock)
    intervals: dict[str, list[tuple[float, float, str]]] = field(default_factory=lambda: collections.defaultdict(list))
    dequeued: list[str] = field(default_factory=list)
    dequeued_at: dict[str, list[float]] = field(default_factory=dict)  # entry id: when each dequeue answered
    enqueued: int = 0
    ok_times: list[float] = field(default_factory=list)  # every successful operation's end
    lock_times: list[float] = field(default_factory=list)  # every acquire that got the lock
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)  # the first message of each kind
    foreign: list[BaseException] = field(default_factory=list)  # anything not a crossredis error
    longest_call: float = 0.0
    longest_name: str = ""
    loop_stall: float = 0.0  # the longest the asyncio loop went without a turn (10 ms ticks)
    ops: int = 0

    def done(self, name: str, t0: float, error: BaseException | None) -> None:
        t1 = time.monotonic()
        with self.guard:
            self.ops += 1
            if t1 - t0 > self.longest_call:
                self.longest_call, self.longest_name = t1 - t0, f"{name} {error!r}"
            if error is None:
                self.ok_times.append(t1)
            elif isinstance(error, crossredis.Error):
                kind = f"{name}: {type(error).__name__}"
                self.errors[kind] += 1
                self.examples.setdefault(kind, str(error)[:200])
            else:
                self.foreign.append(error)


class Cycle:
    """One worker's lock and queue cycles, written once for the sync and the async adapter: each
    step is ``call(name, fn, *args)``, which runs ``fn`` (awaiting it under asyncio) and records it."""

    def __init__(self, rec: Record, who: str) -> None:
        self.rec = rec
        self.who = who
        self.n = 0

    def plan(self) -> Any:
        """A generator of steps: yields (name, method name, args), receives (ok, value)."""
        rec = self.rec
        lid = random.choice(LOCK_IDS)
        t_send = time.monotonic()
        ok, lock = yield "acquire_lock", "acquire_lock", (lid, TTL_MS)
        if ok and lock is not None:
            start = time.monotonic()
            with rec.guard:
                rec.lock_times.append(start)
            expiry = t_send + TTL_MS / 1000
            t_ext = time.monotonic()
            ok, extended = yield "extend_lock", "extend_lock", (lock, TTL_MS)
            if ok and extended:
                expiry = t_ext + TTL_MS / 1000
            end = min(time.monotonic(), expiry)
            yield "release_lock", "release_lock", (lock,)
            with rec.guard:
                rec.intervals[lid].append((start, end, f"{self.who}:{lock.token}"))
        self.n += 1
        now = int(time.time() * 1000)
        q = random.choice(QUEUES)
        ok, _ = yield "enqueue", "enqueue", (q, QueueEntry(now, now + 600000, {"id": f"{self.who}-{self.n}"}), 0)
        if ok:
            with rec.guard:
                rec.enqueued += 1
        ok, entry = yield "dequeue", "dequeue", (q,)
        if ok and entry is not None:
            with rec.guard:
                rec.dequeued.append(entry.message["id"])
                rec.dequeued_at.setdefault(entry.message["id"], []).append(time.monotonic())


def advance(steps: Any, result: tuple[bool, Any] | None) -> tuple[str, str, tuple[Any, ...]] | None:
    """The plan's next step (None: done), told how the last one went."""
    try:
        return steps.send(result) if result is not None else next(steps)
    except StopIteration:
        return None


def run_sync(st: State, rec: Record, who: str, stop: threading.Event) -> None:
    cycle = Cycle(rec, who)
    while not stop.is_set():
        steps, result = cycle.plan(), None
        while (step := advance(steps, result)) is not None:
            t0, error = time.monotonic(), None
            try:
                result = (True, getattr(st, step[1])(*step[2]))
            except BaseException as e:  # recorded: a crossredis error, or a foreign one the test fails on
                result, error = (False, e), e
            rec.done(step[0], t0, error)


async def run_async(a: RedisStateAdapter, rec: Record, who: str, stop: threading.Event) -> None:
    cycle = Cycle(rec, who)
    while not stop.is_set():
        steps, result = cycle.plan(), None
        while (step := advance(steps, result)) is not None:
            t0, error = time.monotonic(), None
            try:  # a call past twice the bound is a hang: TimeoutError, recorded as foreign
                result = (True, await asyncio.wait_for(getattr(a, step[1])(*step[2]), OP_BOUND_S * 2))
            except (crossredis.Error, asyncio.TimeoutError) as e:
                result, error = (False, e), e
            rec.done(step[0], t0, error)
        await asyncio.sleep(0)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def longest_gap(times: list[float], since: float, until: float) -> float:
    """The longest time within [since, until] with none of ``times``."""
    points = [since] + sorted(t for t in times if since < t < until) + [until]
    return max(b - a for a, b in zip(points, points[1:]))


def figures(rec: Record, kind: str, t_fail: float, t_end: float) -> dict[str, Any]:
    twice = [i for i, n in collections.Counter(rec.dequeued).items() if n > 1]
    out = {"topology": kind, "operations": rec.ops, "errors": sum(rec.errors.values()),
           "errors_by_kind": dict(rec.errors.most_common()), "locks_acquired": len(rec.lock_times),
           "entries_enqueued": rec.enqueued, "entries_dequeued": len(rec.dequeued), "dequeued_twice": len(twice),
           "longest_without_service_s": round(longest_gap(rec.ok_times, t_fail, t_end), 3),
           "longest_without_a_lock_s": round(longest_gap(rec.lock_times, t_fail, t_end), 3),
           "longest_call_s": round(rec.longest_call, 3), "longest_call": rec.longest_name,
           "longest_loop_stall_s": round(rec.loop_stall, 3)}
    print(f"\nfailover figures (Python, {kind}): {json.dumps(out)}")
    print(f"failover errors (Python, {kind}), the first message of each kind: {json.dumps(rec.examples)}")
    return out


@dataclass
class Run:
    """One failover under load: what the workers recorded, when the failover began and ended."""

    kind: str
    rec: Record
    t_fail: float
    t_end: float

    def check_safe_and_resumed(self) -> None:
        rec = self.rec
        assert not rec.foreign, f"{len(rec.foreign)} calls failed with a foreign exception, e.g. {rec.foreign[:3]!r}"
        assert rec.longest_call < OP_BOUND_S, f"a call took {rec.longest_call:.1f} s: {rec.longest_name}"
        assert rec.loop_stall < OP_BOUND_S, f"the event loop stalled {rec.loop_stall:.1f} s"
        # no two holders of one lock at once: the intervals of each lock id, in order of their start
        overlaps = []
        for lid, spans in rec.intervals.items():
            spans.sort()
            held_until, holder = 0.0, ""
            for start, end, who in spans:
                if start < held_until - 0.002:  # 2 ms: the clocks' rounding to whole milliseconds
                    overlaps.append((lid, holder, who, round(held_until - start, 4)))
                if end > held_until:
                    held_until, holder = end, who
        assert not overlaps, f"two holders of one lock at once: {overlaps[:5]}"
        assert sum(len(v) for v in rec.intervals.values()) > 100, "too few lock cycles to tell anything"
        assert any(t > self.t_end - 2.0 for t in rec.ok_times), "no successful call in the last 2 s: no service"
        assert any(t > self.t_end - 2.0 for t in rec.lock_times), "no lock acquired in the last 2 s"

    def check_each_entry_once(self, in_failover_ok: bool) -> None:
        """No entry dequeued twice; under Sentinel, only twice when a dequeue of it ran while the
        topology was failed over (a pop the old master took after the promotion, or one a killed
        master had not replicated, is lost with it: replication is asynchronous, and min_replicas
        covers locks), never before the first failover began."""
        twice = sorted(i for i, n in collections.Counter(self.rec.dequeued).items() if n > 1)
        assert len(self.rec.dequeued) > 1000, "too few dequeues to tell anything"
        if not in_failover_ok:
            assert not twice, f"{len(twice)} entries dequeued twice, e.g. {twice[:5]}"
            return
        early = [i for i in twice if min(self.rec.dequeued_at[i]) < self.t_fail]
        assert not early, f"entries dequeued twice before any failover: {early[:5]}"
        print(f"\n{len(twice)} entries dequeued twice during the failovers (lost pops; see the docstring)")


def under_load(url: str, rec: Record, drive: Callable[[], None], **adapter_options: Any) -> tuple[float, float]:
    """Runs the workers on ``url`` while ``drive()`` (in a thread of its own) fails the topology
    over; returns (when the first failover began, when the load stopped)."""
    stop = threading.Event()
    marks: dict[str, float] = {}
    failed: list[BaseException] = []

    def driver() -> None:
        try:
            time.sleep(1.0)  # load before
            marks["fail"] = time.monotonic()
            drive()
            time.sleep(3.0)  # load after: service must be back
        except BaseException as e:
            failed.append(e)
        finally:
            stop.set()

    async def main() -> None:
        a = RedisStateAdapter(url, key_prefix="fo", **adapter_options, **CLIENT)
        await a.connect()
        with State(url, key_prefix="fo", **adapter_options, **CLIENT) as st:
            threads = [threading.Thread(target=run_sync, args=(st, rec, f"thread{i}", stop)) for i in range(THREADS)]
            for t in threads:
                t.start()
            control = threading.Thread(target=driver)
            control.start()
            async def lag() -> None:  # how long the event loop went without a turn
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    rec.loop_stall = max(rec.loop_stall, now - last)
                    last = now

            await asyncio.gather(lag(), *[run_async(a, rec, f"task{i}", stop) for i in range(TASKS)])
            control.join()
            for t in threads:
                t.join(OP_BOUND_S * 2)
                assert not t.is_alive(), "a worker thread hangs"
        await a.disconnect()

    asyncio.run(main())
    if failed:
        raise failed[0]
    return marks["fail"], time.monotonic()


STEADY_S = 1.0  # how long the replicas must keep acknowledging before the load after is measured


def acknowledged(port: int, replicas: int) -> bool:
    """Whether ``replicas`` replicas acknowledge a write on the master ``port`` within WAIT_MS, as
    each lock write of the workers must (min_replicas, min_replicas_timeout_ms=WAIT_MS). A restarted
    replica is online once its full resync is sent but acknowledges only after loading it and
    catching up with the writes since: a longer WAIT than the workers' (or one after no write,
    which counts the online replicas) passes while their acquires still fail, and the load after
    the failover then measures the resync, not the client resuming. One acknowledged write is not
    enough either: under load the sentinels may still be moving a replica (another resync), so the
    writes must be acknowledged for STEADY_S in a row."""
    r = redis.Redis(port=port)
    for i in range(64):  # a key this node serves (a Cluster master sends the others' slots away)
        try:
            r.set(f"fo-probe-{i}", 1)
            break
        except redis.exceptions.MovedError:
            continue
    else:
        raise AssertionError(f"node {port} serves none of the probe keys")
    until = time.monotonic() + STEADY_S
    while True:
        if int(r.execute_command("WAIT", replicas, WAIT_MS)) < replicas:
            return False
        if time.monotonic() >= until:
            return True
        r.set(f"fo-probe-{i}", 1)
        time.sleep(0.05)


def restart_as_replica(node: dict[str, Any], master_port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    """The killed node again, on its port and in its directory, as a replica of ``master_port``."""
    args = ["redis-server"]
    conf = os.path.join(node["dir"], "redis.conf")
    if os.path.exists(conf):
        args.append(conf)
    args += ["--port", str(node["port"]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", node["dir"], "--daemonize", "no", "--logfile", os.path.join(node["dir"], "redis.log"), *extra]
    if master_port:
        args += ["--replicaof", "127.0.0.1", str(master_port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"node {node['port']} to come back", lambda: redis.Redis(port=node["port"]).ping(), 20)
    return proc


def failover_run(kind: str, plan: Callable[..., tuple[str, Callable[[], None]]], min_replicas: int) -> Run:
    """A private topology of this kind (xr-topology --<kind>), failed over under load by
    ``plan(topology, restarted) -> (url, drive)``; what it restarts goes in ``restarted``."""
    topo = TopologyProcess(f"--{kind}")
    restarted: list[subprocess.Popen[bytes]] = []
    try:
        url, drive = plan(topo, restarted)
        rec = Record()
        t_fail, t_end = under_load(url, rec, drive, min_replicas=min_replicas, min_replicas_timeout_ms=WAIT_MS)
        figures(rec, kind, t_fail, t_end)
        return Run(kind, rec, t_fail, t_end)
    finally:
        for p in restarted:
            terminate(p, 5)
        topo.close()


def sentinel_plan(topo: TopologyProcess, restarted: list[subprocess.Popen[bytes]]) -> tuple[str, Callable[[], None]]:
    """SENTINEL FAILOVER, then kill -9 of the new master; it comes back as a replica."""
    env, nodes = topo.env, topo.json["sentinel"]["nodes"]
    name = env["XR_TEST_SENTINEL_MASTER"]
    sentinels = [(h, int(p)) for h, _, p in (a.rpartition(":") for a in env["XR_TEST_SENTINELS"].split(","))]
    by_port = {n["port"]: n for n in nodes}
    sentinel = redis.Redis(*sentinels[0])

    def master_port() -> int:
        return int(sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)[1])

    def drive() -> None:
        first = master_port()
        wait_for("SENTINEL FAILOVER accepted",
                 lambda: sentinel.execute_command("SENTINEL", "FAILOVER", name) in (b"OK", "OK", True), 20)
        second = wait_for("the sentinels to name a new master", lambda: (p := master_port()) != first and p, 30)
        wait_for("both replicas on the new master", lambda: acknowledged(second, 2), 30)
        time.sleep(1.0)  # load on the new master
        os.kill(by_port[second]["pid"], signal.SIGKILL)
        third = wait_for("the sentinels to replace the killed master", lambda: (p := master_port()) != second and p, 30)
        restarted.append(restart_as_replica(by_port[second], third, []))
        wait_for("both replicas acknowledging again", lambda: acknowledged(third, 2), 30)

    return f"redis+sentinel://{env['XR_TEST_SENTINELS']}/{name}", drive


def cluster_plan(topo: TopologyProcess, restarted: list[subprocess.Popen[bytes]]) -> tuple[str, Callable[[], None]]:
    """CLUSTER FAILOVER on a replica, then kill -9 of that new master; it comes back as a replica."""
    env, nodes = topo.env, topo.json["cluster"]["nodes"]
    by_port = {n["port"]: n for n in nodes}

    def shards() -> list[dict[str, Any]]:
        """CLUSTER SHARDS as seen by a live node: [{"master": port, "replicas": [ports]}]."""
        for n in nodes:
            try:
                reply = redis.Redis(port=n["port"]).execute_command("CLUSTER", "SHARDS")
            except (redis.RedisError, OSError):
                continue
            out = []
            for shard in reply:  # redis-py makes each shard and node a dict
                up = [m for m in shard[b"nodes"] if m[b"health"] == b"online"]
                masters = [int(m[b"port"]) for m in up if m[b"role"] == b"master"]
                if masters:
                    out.append({"master": masters[0], "replicas": [int(m[b"port"]) for m in up if m[b"role"] == b"replica"]})
            return out
        raise AssertionError("no cluster node answers")

    def role(port: int) -> str:
        return redis.Redis(port=port).execute_command("ROLE")[0].decode()

    def drive() -> None:
        shard = next(s for s in shards() if s["replicas"])
        old, promoted = shard["master"], shard["replicas"][0]
        assert redis.Redis(port=promoted).execute_command("CLUSTER", "FAILOVER") in (b"OK", "OK", True)
        wait_for("the replica to take over", lambda: role(promoted) == "master" and role(old) == "slave", 30)
        wait_for("the old master to replicate it", lambda: any(
            s["master"] == promoted and s["replicas"] == [old] for s in shards()), 30)
        time.sleep(1.0)  # load on the new master
        os.kill(by_port[promoted]["pid"], signal.SIGKILL)
        wait_for("the old master to be promoted back", lambda: role(old) == "master", 30)
        restarted.append(restart_as_replica(by_port[promoted], 0, [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
            "--repl-diskless-sync-delay", "0"]))
        wait_for("the killed node back as a replica", lambda: any(
            s["master"] == old and s["replicas"] == [promoted] for s in shards()), 30)
        wait_for("the replica to acknowledge", lambda: acknowledged(old, 1), 30)

    return f"redis+cluster://{env['XR_TEST_CLUSTER_NODES']}", drive


@pytest.fixture(scope="module")
def sentinel_run() -> Run:
    return failover_run("sentinel", sentinel_plan, min_replicas=2)  # both replicas


@pytest.fixture(scope="module")
def cluster_run() -> Run:
    return failover_run("cluster", cluster_plan, min_replicas=1)  # each master's one replica


def test_sentinel_failover_keeps_locks_safe_and_resumes(sentinel_run: Run) -> None:
    sentinel_run.check_safe_and_resumed()


def test_sentinel_failover_dequeues_each_entry_once(sentinel_run: Run) -> None:
    sentinel_run.check_each_entry_once(in_failover_ok=True)


def test_cluster_failover_keeps_locks_safe_and_resumes(cluster_run: Run) -> None:
    cluster_run.check_safe_and_resumed()


def test_cluster_failover_dequeues_each_entry_once(cluster_run: Run) -> None:
    cluster_run.check_each_entry_once(in_failover_ok=False)
