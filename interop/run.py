#!/usr/bin/env python3
"""The interop suite: every Chat SDK state implementation writes, every other one reads, through one
shared Redis; then a migration from a TypeScript deployment to a Python one; then the lock and
queue scenarios again in the Chat SDK tagged layout (crossredis's drivers with --layout tagged,
the upstream ones given "{<thread>}" as the thread id: scenarios tagged-lock, tagged-queue); then
the same for
toolhive's session stores (interop/session_matrix.py: crossredis's C, Python and Node drivers and
the Go drivers over the real toolhive releases), @ayepi/redis's stores and broker
(interop/ayepi_matrix.py) and xml-pipeline's context buffer and registry (interop/xp_matrix.py:
crossredis's C and Python drivers and an upstream-shaped redis-py backend).

    .venv/bin/python interop/run.py [--url URL] [--cluster] [--json] [--only IMPL,...]
                                    [--scenarios S,...] [--no-migration] [--keep-logs]
                                    [--crossredis PATH] [--xr-topology PATH] [--go-drivers DIR]

The server is --url, else $REDIS_URL, else a throwaway redis-server started on a free loopback
port and stopped afterwards. With --cluster (or a redis+cluster:// URL) the same matrix runs on a
Redis Cluster: --url/$REDIS_URL when it is a redis+cluster:// URL, else the suite run's shared
cluster ($XR_TEST_CLUSTER_NODES, set by scripts/test), else a throwaway one started with
`xr-topology --cluster` (3 masters, a replica each) and stopped afterwards. crossredis's drivers
take the cluster URL itself; the upstream ones are handed their library's cluster client (ioredis
Cluster, node-redis createCluster, redis-py RedisCluster). An upstream that cannot run on a Cluster
is a known limit (KNOWN_LIMITS): its pairs are printed as such, never skipped silently, and the run
fails if it works after all. The drivers (interop/CONTRACT.md) are started once per implementation
and told what to do; this runner decides what is expected, checks the bytes in Redis itself
(redis-py) and prints a matrix per scenario (producer rows, consumer columns). The URL reaches the
drivers and the crossredis command in their environment (REDIS_URL), never on a command line (ps
shows those), and is printed with its password as ***; so is every message. At the end, also on
failure and on Ctrl-C (SIGINT, SIGTERM), the run's keys (under its own prefix) are deleted and its
temporary folder (the drivers' logs) removed. Exit status: 0 when every result is the expected one
(known upstream incompatibilities included), 1 otherwise, 2 for a bad command line, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import redis
import redis.cluster

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "interop" / "drivers"
sys.path.insert(0, str(DRIVERS))
from cluster_url import parse_cluster_url  # noqa: E402  (interop/drivers/cluster_url.py, the drivers' too)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matrix import (  # noqa: E402  (interop/matrix.py: what every system's matrix shares)
    SECRETS, SYMBOL, Cell, Driver, DriverError, Failure, Secrets, check, password_span, plural, print_groups,
    print_impls, print_tables, redact_url, attempt, pairs)
from ayepi_matrix import (  # noqa: E402  (interop/ayepi_matrix.py: @ayepi/redis's Store, cache, broker)
    AYEPI_BY_NAME, AYEPI_IMPLS, AYEPI_SCENARIOS, AyepiCtx, ayepi_driver_command, compare_ayepi_bytes,
    run_ayepi_matrix)
from xp_matrix import (  # noqa: E402  (interop/xp_matrix.py: xml-pipeline's context buffer and registry)
    XP_BY_NAME, XP_IMPLS, XP_SCENARIOS, XpCtx, compare_xp_bytes, run_xp_matrix, xp_driver_command)
from session_matrix import (  # noqa: E402  (interop/session_matrix.py: toolhive's sessions)
    GO_DRIVERS, SESSION_BY_NAME, SESSION_IMPLS, SESSION_SCENARIOS, SessionCtx, compare_records,
    run_session_matrix, session_driver_command)


# ---- implementations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Impl:
    name: str
    runtime: str          # "c", "python", "typescript"
    json: str             # what its values look like: "js" (JSON.stringify) or "python" (json.dumps)
    entries: str          # queue entries it writes: "ts", "python" or "both"
    reader: str           # whose queue reader it is: "ts-core", "py-port", "crossredis"
    origin: str           # the writer crossredis locks names for its tokens
    shape: str            # the upstream writer whose token shape it writes
    token_prefix: str     # its tokens start with this + "_"


IMPLS = [
    Impl("c", "c", "js", "ts", "crossredis", "crossredis", "ts-node-redis", "redis"),
    Impl("py-crossredis", "python", "python", "python", "crossredis", "crossredis", "python-redis", "redis"),
    Impl("py-crossredis-both", "python", "python", "both", "crossredis", "crossredis", "python-ioredis", "ioredis"),
    Impl("py-port", "python", "python", "python", "py-port", "python-redis", "python-redis", "redis"),
    Impl("ts-node-redis", "typescript", "js", "ts", "ts-core", "ts-node-redis", "ts-node-redis", "redis"),
    Impl("ts-ioredis", "typescript", "js", "ts", "ts-core", "ts-ioredis", "ts-ioredis", "ioredis"),
    Impl("ts-crossredis", "typescript", "js", "ts", "ts-core-crossredis", "crossredis", "ts-ioredis", "ioredis"),
]
BY_NAME = {i.name: i for i in IMPLS}


def driver_command(impl: Impl, crossredis: Path, python: str) -> list[str]:
    if impl.runtime == "c":
        return [str(crossredis), "driver"]
    if impl.runtime == "python":
        return [python, str(DRIVERS / "py_driver.py")]
    return [shutil.which("node") or "node", str(DRIVERS / "ts_driver.mjs")]


# ---- scenarios ---------------------------------------------------------------------------------

MESSAGE_TEXT = "b\u00e4r \u2603 \U0001f600 <&> \"q\""


def chat_message(mid: str, thread: str) -> dict[str, Any]:
    """A message as the TS core's Message.toJSON writes it (SPEC.md 1.5 key order)."""
    return {
        "_type": "chat:Message", "id": mid, "threadId": thread, "text": MESSAGE_TEXT,
        "formatted": {"type": "root", "children": [{"type": "paragraph", "children": [
            {"type": "text", "value": MESSAGE_TEXT}]}]},
        "raw": {"id": mid},
        "author": {"userId": "U1", "userName": "alice", "fullName": "Alice", "isBot": False, "isMe": False},
        "metadata": {"dateSent": "2023-11-14T22:13:20.000Z", "edited": False},
        "attachments": [],
    }


VALUE = {"text": MESSAGE_TEXT, "n": 1, "big": 1700000000000, "f": 2.5, "list": [1, None, True, "x"],
         "nested": {"a": {"b": []}}}


def expected_bytes(dialect: str, value: Any) -> bytes:
    if dialect == "js":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(value).encode()


@dataclass
class Ctx:
    prefix: str
    r: redis.Redis | redis.cluster.RedisCluster
    crossredis: Path
    env: dict[str, str]  # the children's environment: REDIS_URL is the server
    entries: dict[str, bytes] = field(default_factory=dict)  # producer -> the queue entry it wrote
    keys: set[str] = field(default_factory=set)  # every key the runner looked at (where they lived, on a Cluster)
    # The tagged-layout matrix: crossredis's drivers run with --layout tagged and are given a thread
    # id T, the upstream ones are given "{T}" (what an upstream app does to write the tagged keys);
    # both must then meet at <prefix>:lock:{T} and <prefix>:queue:{T}.
    tagged: bool = False

    def thread(self, impl: Impl, t: str) -> str:
        """The thread id `impl` is given for the scenario's thread t."""
        return "{" + t + "}" if self.tagged and impl.origin != "crossredis" else t

    def shown(self, t: str) -> str:
        """Thread t as the key holds it (past "<prefix>:lock:"): what `crossredis locks` shows."""
        return "{" + t + "}" if self.tagged else t

    def key(self, kind: str, name: str) -> str:
        if kind in ("lock", "queue"):
            name = self.shown(name)
        k = f"{self.prefix}:{kind}:{name}"
        self.keys.add(k)
        return k

    def locks_json(self) -> dict[str, Any]:
        try:
            out = subprocess.run([str(self.crossredis), "locks", "--prefix", self.prefix, "--json"], env=self.env,
                                 capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Failure(f"crossredis locks: {e}") from None
        if out.returncode != 0:
            raise Failure(f"crossredis locks: exit {out.returncode}: {out.stderr.strip()}")
        return json.loads(out.stdout)


# ---- lock token origins (the crossredis check, as SPEC.md 1.3 and core/include/crossredis/token.h
# describe it: FNV-1a 32 over "crossredis:" + the token without its last two characters, written
# as two base36 digits of h % 1296 after 13 base36 characters, or two hex digits of h % 256 after
# 32 hex digits)

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def check_characters(token: str, base36: bool) -> str:
    h = 2166136261
    for c in b"crossredis:" + token[:-2].encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return B36[(h % 1296) // 36] + B36[(h % 1296) % 36] if base36 else f"{h % 256:02x}"


def passes_check(token: str) -> bool:
    """Whether the token has a checkable suffix (13 base36 or 32 hex characters) whose last two
    characters are crossredis's check over the rest."""
    parts = token.split("_", 2)
    if len(parts) != 3 or len(parts[0]) > 64:
        return False
    suffix = parts[2]
    if len(suffix) == 13 and all(c in B36 for c in suffix):
        return suffix[-2:] == check_characters(token, True)
    if len(suffix) == 32 and all(c in "0123456789abcdef" for c in suffix):
        return suffix[-2:] == check_characters(token, False)
    return False


def expected_origins(impl: Impl, token: str) -> list[str]:
    """What `crossredis locks` must say of a token `impl` wrote: crossredis's tokens are also valid
    tokens of the upstream writer whose shape they have, so both are named; an upstream token that
    passes the check by chance (1 in 256 hex, 1 in 1296 base36) is possibly crossredis's too, and
    one that fails it is its writer's for certain. Decided from the token itself: no chance."""
    if impl.origin == "crossredis":
        return ["crossredis", impl.shape]
    return ["crossredis", impl.origin] if passes_check(token) else [impl.origin]


def wall_ms() -> tuple[int, int]:
    """This machine's wall clock in ms, rounded down and up (the drivers read the same clock)."""
    ns = time.time_ns()
    return ns // 1_000_000, -(-ns // 1_000_000)


def release(d: Driver, thread_id: str, token: str, released: bool, scenario: str = "", role: str = "") -> None:
    """chat.release_lock, whose result is whether it released (the C core says so) or null where
    the library's method returns nothing (upstream's releaseLock / release_lock, and crossredis's,
    which match them): either is accepted, a wrong answer is a Failure."""
    res = d.ok("chat.release_lock", scenario=scenario, role=role, thread_id=thread_id, token=token)
    if res is not None and res is not released:
        raise Failure(f"{d.impl.name} chat.release_lock answered {json.dumps(res)}, not {json.dumps(released)} "
                      f"(or null)")


def sc_lock(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t, t2 = f"lock-{tag}", f"lock-{tag}-b"
    before, _ = wall_ms()
    ta, tb, tb2 = ctx.thread(a.impl, t), ctx.thread(b.impl, t), ctx.thread(b.impl, t2)
    la = a.ok("chat.acquire_lock", scenario="lock", role="producer", thread_id=ta, ttl_ms=30000)
    _, after = wall_ms()
    check(la is not None and la.get("token"), f"{a.impl.name} could not take a free lock")
    tok = la["token"]
    check(tok.startswith(a.impl.token_prefix + "_"), f"token {tok} lacks {a.impl.token_prefix}_")
    # expires_at is the acquire's time + ttl_ms, read on the same wall clock as before/after; a
    # millisecond either side for rounding (the Python port reads a float, int(time.time() * 1000)).
    expires = la.get("expires_at")
    check(isinstance(expires, int) and before + 30000 - 1 <= expires <= after + 30000 + 1,
          f"{a.impl.name}'s lock expires_at {expires} is not within [{before + 30000}, {after + 30000}] "
          f"(the acquire's wall-clock window + ttl_ms 30000)")
    check(ctx.r.get(ctx.key("lock", t)) == tok.encode(), "the lock key does not hold the bare token")
    check(b.ok("chat.acquire_lock", scenario="lock", role="consumer", thread_id=tb, ttl_ms=30000) is None,
          f"{b.impl.name} took a lock {a.impl.name} holds")
    lb = b.ok("chat.acquire_lock", scenario="lock", role="consumer", thread_id=tb2, ttl_ms=30000)
    check(lb is not None, f"{b.impl.name} could not take a free lock")
    release(b, tb, lb["token"], False, scenario="lock", role="consumer")
    check(ctx.r.get(ctx.key("lock", t)) == tok.encode(), f"{b.impl.name} released {a.impl.name}'s lock")
    check(b.ok("chat.extend_lock", scenario="lock", role="consumer", thread_id=tb, token=lb["token"],
               ttl_ms=60000) is False,
          f"{b.impl.name} extended {a.impl.name}'s lock")
    check(ctx.r.pttl(ctx.key("lock", t)) <= 30000, "the lock's TTL changed")
    seen = {l["thread"]: l for l in ctx.locks_json()["locks"]}.get(ctx.shown(t)) or {}
    want = expected_origins(a.impl, tok)
    check(seen.get("origins") == want and seen.get("origin") == want[0] and seen.get("certain") is (len(want) == 1),
          f"origin of {a.impl.name}'s lock: {seen.get('origins')} (certain: {seen.get('certain')}), not {want}")
    release(a, ta, tok, True, scenario="lock", role="producer")
    check(ctx.r.exists(ctx.key("lock", t)) == 0, f"{a.impl.name} could not release its lock")
    # A released lock stays released: extending it with its old token fails in every runtime and
    # does not bring the key back (a script that re-creates it would).
    for d in (a, b):
        check(d.ok("chat.extend_lock", scenario="lock", role="producer" if d is a else "consumer",
                   thread_id=ctx.thread(d.impl, t),
                   token=tok, ttl_ms=60000) is False, f"{d.impl.name} extended {a.impl.name}'s released lock")
        check(ctx.r.exists(ctx.key("lock", t)) == 0, f"{d.impl.name}'s extend re-created the released lock")
    lb2 = b.ok("chat.acquire_lock", scenario="lock", role="consumer", thread_id=tb, ttl_ms=30000)
    check(lb2 is not None, f"{b.impl.name} could not take the lock {a.impl.name} released")
    release(b, tb, lb2["token"], True)
    release(b, tb2, lb["token"], True)
    if a.impl.origin == "crossredis":
        return f"origin crossredis (in the shape of {a.impl.shape})"
    if len(want) > 1:
        return f"origin possibly {a.impl.origin} (its token passes crossredis's check by chance)"
    return f"origin {a.impl.origin}"


def sc_cache(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"cache-{tag}"
    a.ok("chat.set", scenario="cache", role="producer", key=k, json=VALUE, ttl_ms=60000)
    raw = ctx.r.get(ctx.key("cache", k))
    want = expected_bytes(a.impl.json, VALUE)
    check(raw == want, f"{a.impl.name} wrote {raw!r}, {a.impl.json} JSON is {want!r}")
    got = b.ok("chat.get", scenario="cache", role="consumer", key=k)
    check(got == VALUE, f"{b.impl.name} read {got!r}")
    return f"{a.impl.json} JSON, {len(raw)} bytes as upstream"


def sc_dedupe(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"dedupe:{tag}"
    check(a.ok("chat.set_if_not_exists", scenario="dedupe", role="producer", key=k, json=True, ttl_ms=600000) is True,
          f"{a.impl.name}: first setIfNotExists not stored")
    check(b.ok("chat.set_if_not_exists", scenario="dedupe", role="consumer", key=k, json=True, ttl_ms=600000) is False,
          f"{b.impl.name}: second setIfNotExists stored")
    check(ctx.r.get(ctx.key("cache", k)) == b"true", "the dedupe value is not true")
    check(0 < ctx.r.pttl(ctx.key("cache", k)) <= 600000, "no TTL")
    return "second writer refused"


def sc_list(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"list-{tag}"
    items = [{"i": i, "t": MESSAGE_TEXT} for i in range(3)]
    for v in items:
        a.ok("chat.append_to_list", scenario="list", role="producer", key=k, json=v, max_length=2, ttl_ms=60000)
    check(ctx.r.llen(ctx.key("list", k)) == 2, "not trimmed to 2")
    check(0 < ctx.r.pttl(ctx.key("list", k)) <= 60000, "no TTL")
    got = b.ok("chat.get_list", scenario="list", role="consumer", key=k)
    check(got == items[1:], f"{b.impl.name} read {got!r}")
    return "newest 2 kept"


def sc_subscriptions(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t = f"sub-{tag}"
    a.ok("chat.subscribe", scenario="subscriptions", role="producer", thread_id=t)
    check(ctx.r.sismember(ctx.key("subscriptions", "").rstrip(":"), t), "not in the subscriptions set")
    check(b.ok("chat.is_subscribed", scenario="subscriptions", role="consumer", thread_id=t) is True,
          f"{b.impl.name} does not see the subscription")
    b.ok("chat.unsubscribe", scenario="subscriptions", role="consumer", thread_id=t)
    check(a.ok("chat.is_subscribed", scenario="subscriptions", role="producer", thread_id=t) is False,
          f"{a.impl.name} still sees it after {b.impl.name} unsubscribed")
    return "seen, removed"


@dataclass(frozen=True)
class KnownBreak:
    why: str
    signature: str  # what the failure must say: a failure that says something else is a FAIL


PORT_KEYERROR = KnownBreak("the Python port reads only enqueued_at/expires_at: KeyError on a TS entry",
                           "KeyError")
TS_EXPIRED = KnownBreak("the TS core drops an entry without expiresAt as expired", "dropped 1 as expired")


def queue_expected_to_fail(a: Impl, b: Impl) -> KnownBreak | None:
    """Why an upstream pair cannot pass a queued message (SPEC.md 1.5), or None."""
    if b.reader == "py-port" and a.entries == "ts":
        return PORT_KEYERROR
    if b.reader == "ts-core" and a.entries == "python":
        return TS_EXPIRED
    return None


# What an upstream cannot do on a Redis Cluster. Every Chat SDK state operation upstream has is
# single-key (the lock, cache, list, queue and subscriptions keys), so the Cluster routes each as it
# is; what stops an upstream is its client. A limited implementation is still started: it must fail
# the way described (its driver's ready line says so), and its pairs are printed as known limits.
# Should it come up after all, its pairs run and a pass is an UNEXPECTED-PASS (update this table).
@dataclass(frozen=True)
class KnownLimit:
    why: str
    signature: str  # what the driver's start failure must say


KNOWN_LIMITS: dict[str, dict[str, KnownLimit]] = {
    "cluster": {
        "ts-node-redis": KnownLimit(
            "@chat-adapter/state-redis cannot use a node-redis cluster client: its connect() waits for "
            "client.isReady or a 'ready' event, which node-redis's RedisCluster (createCluster) has not, "
            "so it never resolves (and its `url` option is one server)", "connect timed out"),
    },
}


# The queue scenario's clock and message are pinned, so every producer's entry can be compared byte
# for byte with the others of its runtime (the readers get `now` as their clock; the queue's TTL,
# max(expires_at - now, 60000), is then 60000 on the server, which changes no byte).
ENQUEUED_AT = 1700000000000
EXPIRES_AT = ENQUEUED_AT + 90000
QUEUE_MESSAGE = chat_message("m1", "slack:C123:1700000000.000100")


def sc_queue(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t = f"queue-{tag}"
    msg = QUEUE_MESSAGE
    depth = a.ok("chat.enqueue", scenario="queue", role="producer", thread_id=ctx.thread(a.impl, t), message_json=msg,
                 enqueued_at_ms=ENQUEUED_AT, expires_at_ms=EXPIRES_AT, max_size=10)
    check(depth == 1, f"depth {depth}")
    stored = ctx.r.lindex(ctx.key("queue", t), 0)
    first = ctx.entries.setdefault(a.impl.name, stored)
    if ctx.tagged and isinstance(ctx.r, redis.cluster.RedisCluster):  # a thread's lock and queue: one slot
        check(ctx.r.keyslot(ctx.key("lock", t)) == ctx.r.keyslot(ctx.key("queue", t)),
              f"{t}'s tagged lock and queue keys are in different slots")
    check(stored == first, f"{a.impl.name} wrote the same entry differently: {stored!r} vs {first!r}")
    raw = json.loads(stored)
    spelled = {"ts": ["message", "enqueuedAt", "expiresAt"],
               "python": ["enqueued_at", "expires_at", "message"],
               "both": ["message", "enqueuedAt", "expiresAt", "enqueued_at", "expires_at"]}[a.impl.entries]
    check(list(raw) == spelled, f"{a.impl.name} spelled the entry {list(raw)}")
    # The queue key lives max(expires_at - now, 60 s): an entry expiring in 5 s gets the floor too,
    # not only an expired one.
    t_ttl = f"queue-ttl-{tag}"
    now, _ = wall_ms()
    a.ok("chat.enqueue", scenario="queue", role="producer", thread_id=ctx.thread(a.impl, t_ttl), message_json=msg,
         enqueued_at_ms=now, expires_at_ms=now + 5000, max_size=10)
    pttl = ctx.r.pttl(ctx.key("queue", t_ttl))
    ctx.r.delete(ctx.key("queue", t_ttl))
    check(55000 < pttl <= 60000, f"{a.impl.name}: the queue of an entry expiring in 5 s has a PTTL of {pttl} ms, "
                                 f"not the 60000 ms floor")
    try:
        drain_one(b, "queue", ctx.thread(b.impl, t), b.impl.name)
    finally:
        ctx.r.delete(ctx.key("queue", t))
    return f"{a.impl.entries} entry delivered"


def drain_one(b: Driver, scenario: str, thread_id: str, who: str) -> None:
    """b's reader (chat.drain_queue, the runtime's queue reader) must deliver QUEUE_MESSAGE alone."""
    good, res = b.call("chat.drain_queue", scenario=scenario, role="consumer", thread_id=thread_id,
                       now_ms=ENQUEUED_AT + 1000)
    if not good:
        raise Failure(f"{b.impl.name} reader: {res.get('kind')}: {res.get('message')}")
    delivered = res.get("delivered") or []
    check(res.get("expired", 0) == 0 and len(delivered) == 1,
          f"{who} delivered {len(delivered)}, dropped {res.get('expired')} as expired")
    got = delivered[0]
    check(isinstance(got, dict) and got.get("id") == QUEUE_MESSAGE["id"] and got.get("text") == MESSAGE_TEXT,
          f"{b.impl.name} delivered {json.dumps(got)[:120]}")


SCENARIOS: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] = [
    ("lock", sc_lock), ("cache", sc_cache), ("dedupe", sc_dedupe), ("list", sc_list),
    ("subscriptions", sc_subscriptions), ("queue", sc_queue),
]


def sc_held_queue(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    """The Chat SDK core's queue path: b holds the thread, a cannot take it and queues the message,
    b (the holder) drains the queue and gets it."""
    t = f"held-{tag}"
    ta, tb = ctx.thread(a.impl, t), ctx.thread(b.impl, t)
    lock = b.ok("chat.acquire_lock", scenario="held-queue", role="consumer", thread_id=tb, ttl_ms=30000)
    check(lock is not None, f"{b.impl.name} could not take a free lock")
    try:
        check(a.ok("chat.acquire_lock", scenario="held-queue", role="producer", thread_id=ta, ttl_ms=30000) is None,
              f"{a.impl.name} took the lock {b.impl.name} holds")
        depth = a.ok("chat.enqueue", scenario="held-queue", role="producer", thread_id=ta, message_json=QUEUE_MESSAGE,
                     enqueued_at_ms=ENQUEUED_AT, expires_at_ms=EXPIRES_AT, max_size=10)
        check(depth == 1, f"depth {depth}")
        drain_one(b, "held-queue", tb, f"{b.impl.name} (the holder)")
    finally:
        release(b, tb, lock["token"], True, scenario="held-queue", role="consumer")
        ctx.r.delete(f"{ctx.prefix}:queue:{t}")
        ctx.r.delete(f"{ctx.prefix}:queue:{{{t}}}")
    return "queued for the holder, delivered"


# The tagged layout's matrix (Ctx.tagged): the same lock and queue scenarios with crossredis's
# drivers in layout "tagged" and the upstream ones given "{<thread>}" ids.
LAYOUT_SCENARIOS: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] = [
    ("tagged-lock", sc_lock), ("tagged-queue", sc_queue),
]
# The bridge layout's matrices (one node only: the bridge refuses on a Cluster): crossredis's
# drivers in layout "bridge" beside the upstream runtimes in upstream's layout (the move's first
# step), then beside them given "{<thread>}" ids, i.e. in the tagged layout (its second step).
BRIDGE_SCENARIOS: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] = [
    ("bridge-lock", sc_lock), ("bridge-queue", sc_held_queue),
]
BRIDGE_TAGGED_SCENARIOS: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] = [
    ("bridge-tagged-lock", sc_lock), ("bridge-tagged-queue", sc_held_queue),
]


# ---- the migration -----------------------------------------------------------------------------

def migration(ctx: Ctx, ts: Driver, py: Driver) -> dict[str, Any]:
    """A TS deployment (ioredis adapter) holds locks and has queued messages; a Python deployment on
    crossredis with ioredis-shaped tokens comes up beside it; `crossredis drain --origin ts-ioredis`
    waits until the TS locks are gone while the TS side finishes; then the Python side takes over
    every thread and no message is lost."""
    threads = [f"migrate-{i}" for i in range(3)]
    now = int(time.time() * 1000)
    held = {}
    queued = 0
    for t in threads:
        lock = ts.ok("chat.acquire_lock", scenario="migration", role="ts", thread_id=t, ttl_ms=30000)
        check(lock is not None, f"ts could not lock {t}")
        held[t] = lock["token"]
        for j in range(2):
            ts.ok("chat.enqueue", scenario="migration", role="ts", thread_id=t,
                  message_json=chat_message(f"{t}-m{j}", t), enqueued_at_ms=now, expires_at_ms=now + 90000, max_size=10)
            queued += 1
    for t in threads:
        check(py.ok("chat.acquire_lock", scenario="migration", role="python", thread_id=t, ttl_ms=30000) is None,
              f"python took {t} while ts held it")
    # Each step waits for what drain says (no sleeps): it must see all three TS locks, then each
    # release, and end only after the last one.
    try:
        drain = subprocess.Popen([str(ctx.crossredis), "drain", "--origin", "ts-ioredis", "--prefix", ctx.prefix,
                                  "--timeout", "60", "--interval", "50", "--json"], env=ctx.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise Failure(f"crossredis drain: {e}") from None
    lines: queue.Queue[str | None] = queue.Queue()
    err_lines: list[str] = []

    def read_stderr() -> None:
        assert drain.stderr is not None
        for line in drain.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()

    def wait_for(prefix: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise Failure(f"drain did not say {prefix!r} within 60 s: {''.join(err_lines)!r}") from None
            if line is None:
                raise Failure(f"drain ended before saying {prefix!r}: {''.join(err_lines)!r}")
            err_lines.append(line)
            if line.startswith(prefix):
                return

    try:
        wait_for("drain: 3 ts-ioredis locks left (of ")
        check(drain.poll() is None, "drain returned while ts locks were held")
        for i, t in enumerate(threads):  # the TS deployment finishes its work, thread by thread
            release(ts, t, held[t], True, scenario="migration", role="ts")
            left = len(threads) - 1 - i
            if left:
                wait_for(f"drain: {plural(left, 'ts-ioredis lock')} left (of ")
        out, _ = drain.communicate(timeout=60)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    reader.join(timeout=10)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            err_lines.append(line)
    err = "".join(err_lines)
    check(drain.returncode == 0, f"drain exited {drain.returncode}: {err.strip()}")
    report = json.loads(out)
    check(report.get("drained") is True, f"drain report {report}")
    progress = [l for l in err.splitlines() if "left" in l]
    check(len(progress) >= 3, f"drain did not report each release: {err!r}")
    delivered = 0
    tokens = []
    for t in threads:
        lock = py.ok("chat.acquire_lock", scenario="migration", role="python", thread_id=t, ttl_ms=30000)
        check(lock is not None, f"python could not take {t} after the drain")
        tokens.append(lock["token"])
        res = py.ok("chat.drain_queue", scenario="migration", role="python", thread_id=t,
                    now_ms=int(time.time() * 1000))
        got = res.get("delivered") or []
        check(res.get("expired", 0) == 0, f"{t}: {res.get('expired')} dropped as expired")
        check([m.get("id") for m in got] == [f"{t}-m0", f"{t}-m1"], f"{t}: delivered {[m.get('id') for m in got]}")
        delivered += len(got)
        release(py, t, lock["token"], True, scenario="migration", role="python")
    check(all(tok.startswith("ioredis_") for tok in tokens), f"python tokens {tokens} are not ioredis-shaped")
    check(delivered == queued, f"{queued} queued, {delivered} delivered")
    return {"threads": len(threads), "queued": queued, "delivered": delivered, "drain_seconds": report.get("seconds"),
            "drain_progress_lines": len(progress), "python_tokens": tokens}


# ---- running -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server on a free loopback port. The port is free when chosen but another
    process may take it first: then this server cannot bind and exits, or the one answering is not
    ours (its process_id tells), and another port is tried."""
    for _ in range(10):
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(workdir)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1) as r:
                    if r.info("server").get("process_id") == proc.pid:
                        return proc, f"redis://127.0.0.1:{port}"
                break  # someone else's server on the port
            except redis.RedisError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise SystemExit("interop: redis-server did not start (is it installed? scripts/bootstrap installs it)")


# ---- Redis Cluster -----------------------------------------------------------------------------

def open_checker(url: str) -> redis.Redis | redis.cluster.RedisCluster:
    """The runner's own connection (redis-py): a RedisCluster on a cluster URL's seeds, else the URL."""
    cluster = parse_cluster_url(url)
    if cluster is None:
        return redis.Redis.from_url(url)
    nodes, username, password = cluster
    return redis.cluster.RedisCluster(startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in nodes],
                                      username=username, password=password, socket_timeout=10)


def start_cluster(tool: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway Redis Cluster (3 masters with a replica each, loopback) from `xr-topology
    --cluster`, which prints "ready" when it is whole and stops every node when its stdin closes."""
    if not os.access(tool, os.X_OK):
        raise SystemExit(f"interop: {tool} is missing: build it (cmake --build build) or pass --xr-topology PATH")
    env_file = workdir / "topology.env"
    log = open(workdir / "xr-topology.log", "wb")
    proc = subprocess.Popen([str(tool), "--cluster", "--env", str(env_file)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log)
    log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    out = b""
    while b"ready\n" not in out:
        left = deadline - time.monotonic()
        r, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
        chunk = os.read(proc.stdout.fileno(), 4096) if r else b""
        if not chunk:
            stop_cluster(proc)
            text = (workdir / "xr-topology.log").read_text(errors="replace").strip()
            raise SystemExit(f"interop: xr-topology --cluster did not start: {text or 'no output'}")
        out += chunk
    nodes = ""
    for line in env_file.read_text().splitlines():
        if line.startswith("XR_TEST_CLUSTER_NODES="):
            nodes = line.split("=", 1)[1]
    if not nodes:
        stop_cluster(proc)
        raise SystemExit(f"interop: xr-topology wrote no XR_TEST_CLUSTER_NODES into {env_file}")
    return proc, "redis+cluster://" + nodes


def stop_cluster(proc: subprocess.Popen[bytes]) -> None:
    """EOF on its stdin stops xr-topology and its nodes; SIGTERM if it lingers."""
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)
    except (subprocess.TimeoutExpired, OSError):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


def masters_reached(r: redis.cluster.RedisCluster, keys: set[str]) -> tuple[int, int, int]:
    """(masters the keys' slots live on, masters serving slots, distinct slots) for the run's keys."""
    slots = {r.keyslot(k.rstrip(":")) for k in keys}
    nodes = {r.nodes_manager.get_node_from_slot(s).name for s in slots}
    return len(nodes), len(r.get_primaries()), len(slots)




def run_matrix(ctx: Ctx, names: list[str], drivers: dict[str, Driver], limited: dict[str, tuple[KnownLimit, str]],
               expected_limits: dict[str, KnownLimit], scenarios: list[str],
               table: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] | None = None) -> list[Cell]:
    """Every producer x consumer pair of `names` in each scenario of `table` (None: SCENARIOS). A pair
    with an implementation in `limited` (it could not start, as its known limit says) is a
    known-limit cell; a pair with one that has a known limit here but started anyway is an
    UNEXPECTED-PASS when it passes."""
    cells = []
    for tag, scenario, fn, pa, pb in pairs(SCENARIOS if table is None else table, scenarios, names):
        lim = next((limited[x] for x in (pa, pb) if x in limited), None)
        if lim is not None:
            cells.append(Cell(scenario, pa, pb, "limit", "known-limit", lim[1], lim[0].why))
            continue
        a, b = drivers[pa], drivers[pb]
        known = queue_expected_to_fail(a.impl, b.impl) if scenario.endswith("queue") else None
        limit = next((expected_limits[x] for x in (pa, pb) if x in expected_limits), None)
        detail, passed = attempt(fn, ctx, a, b, tag)
        if limit is not None:
            status = "UNEXPECTED-PASS" if passed else "FAIL"
            detail = f"{detail} (a known limit says this pair cannot run here: {limit.why})"
        elif known is None:
            status = "ok" if passed else "FAIL"
        elif passed:
            status = "UNEXPECTED-PASS"
        else:  # failing is expected, but only the way upstream fails
            status = "known-incompatible" if known.signature in detail else "FAIL"
        cells.append(Cell(scenario, a.impl.name, b.impl.name, "fail" if known else "pass", status, detail,
                          known.why if known else None))
    return cells


def compare_entries(ctx: Ctx, names: list[str]) -> list[dict[str, Any]]:
    """Producers of one runtime, JSON dialect and entry spelling must write identical entries for
    the same message and times: crossredis byte for byte as upstream."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for n in names:
        i = BY_NAME[n]
        if n in ctx.entries:
            groups.setdefault((i.runtime if i.runtime != "c" else "typescript", i.json, i.entries), []).append(n)
    out = []
    for (runtime, dialect, spelling), members in groups.items():
        if len(members) < 2:
            continue
        ref = ctx.entries[members[0]]
        same = [m for m in members if ctx.entries[m] == ref]
        out.append({"runtime": runtime, "json": dialect, "entries": spelling, "producers": members,
                    "identical": len(same) == len(members), "bytes": len(ref),
                    "differing": [m for m in members if m not in same]})
    return out


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop, clean up, exit 130."""


def on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def delete_keys(r: redis.Redis, prefix: str) -> int:
    """Deletes every key under "<prefix>:" (the prefix's glob characters escaped); how many."""
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + ":*"
    n = 0
    batch: list[bytes] = []
    for key in r.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) == 500:
            n += r.delete(*batch)
            batch = []
    if batch:
        n += r.delete(*batch)
    return n


def show_logs(logs: Path) -> None:
    """The end of each driver's log, passwords scrubbed, for a run that failed."""
    for log in sorted(logs.glob("*.log")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        if lines:
            print(f"--- {log.stem} driver log (last {plural(min(len(lines), 15), 'line')}):", file=sys.stderr)
            for line in lines[-15:]:
                print("  " + SECRETS.scrub(line), file=sys.stderr)


def run_system(title: str, label: str, ctx: Any, names: list[str], drivers: dict[str, Driver], scenarios: list[str],
               run_matrix_of: Callable[..., list[Cell]], compare: Callable[[Any], list[dict[str, Any]]],
               compared: str, out: Any) -> tuple[list[Cell], list[dict[str, Any]]]:
    """A system's matrix (sessions, ayepi, xp) when it has implementations: its drivers, its tables,
    and what its writers wrote compared byte for byte, printed under `title`."""
    if not names:
        return [], []
    print_impls(title, names, drivers, out)
    cells = run_matrix_of(ctx, names, drivers, scenarios)
    print_tables(cells, names, scenarios, out, label)
    groups = compare(ctx)
    print_groups(compared, groups, out)
    return cells, groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="crossredis interop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="the shared Redis (default: $REDIS_URL, else a throwaway local redis-server); "
                                  "REDIS_URL keeps a password off this command line")
    ap.add_argument("--cluster", action="store_true",
                    help="run on a Redis Cluster: --url/$REDIS_URL when it is redis+cluster://, else "
                         "$XR_TEST_CLUSTER_NODES, else a throwaway one (xr-topology --cluster)")
    ap.add_argument("--xr-topology", help="the xr-topology program that starts a throwaway cluster "
                                          "(default: tests/harness/xr-topology in the build tree of --crossredis, "
                                          "else build/ of this source tree)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    ap.add_argument("--only", help="a comma-separated subset of implementations (of any matrix: Chat SDK "
                                   "state " + ", ".join(BY_NAME) + "; sessions " + ", ".join(SESSION_BY_NAME) +
                                   "; ayepi " + ", ".join(AYEPI_BY_NAME) + "; xp " + ", ".join(XP_BY_NAME) + ")")
    ap.add_argument("--scenarios", help="a comma-separated subset of scenarios (" +
                    ", ".join(n for n, _ in SCENARIOS + LAYOUT_SCENARIOS + BRIDGE_SCENARIOS + BRIDGE_TAGGED_SCENARIOS +
                              SESSION_SCENARIOS + AYEPI_SCENARIOS + XP_SCENARIOS) + ")")
    ap.add_argument("--crossredis", default=str(ROOT / "build" / "cli" / "crossredis"), help="the crossredis command")
    ap.add_argument("--go-drivers", default=str(GO_DRIVERS),
                    help="the folder of the Go session drivers (interop/drivers/go/build's output; default %(default)s)")
    ap.add_argument("--no-migration", action="store_true", help="skip the migration scenario")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the temporary folder with the drivers' logs (passwords scrubbed) and say where")
    args = ap.parse_args(argv)
    # Four matrices, the Chat SDK state's, the sessions', ayepi's and xp's; --only and --scenarios pick
    # from all, and a matrix left with no implementation or no scenario does not run.
    names, session_names = [i.name for i in IMPLS], [i.name for i in SESSION_IMPLS]
    ayepi_names = [i.name for i in AYEPI_IMPLS]
    xp_names = [i.name for i in XP_IMPLS]
    if args.only:
        only = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in only if n not in BY_NAME and n not in SESSION_BY_NAME and n not in AYEPI_BY_NAME
                   and n not in XP_BY_NAME]
        if unknown:
            ap.error(f"unknown implementation {', '.join(unknown)} (known: {', '.join(BY_NAME)}; sessions: "
                     f"{', '.join(SESSION_BY_NAME)}; ayepi: {', '.join(AYEPI_BY_NAME)}; xp: {', '.join(XP_BY_NAME)})")
        names, session_names = [n for n in only if n in BY_NAME], [n for n in only if n in SESSION_BY_NAME]
        ayepi_names = [n for n in only if n in AYEPI_BY_NAME]
        xp_names = [n for n in only if n in XP_BY_NAME]
    scenarios, session_scenarios = [n for n, _ in SCENARIOS], [n for n, _ in SESSION_SCENARIOS]
    layout_scenarios = [n for n, _ in LAYOUT_SCENARIOS]
    bridge_scenarios = [n for n, _ in BRIDGE_SCENARIOS + BRIDGE_TAGGED_SCENARIOS]
    ayepi_scenarios = [n for n, _ in AYEPI_SCENARIOS]
    xp_scenarios = [n for n, _ in XP_SCENARIOS]
    if args.scenarios:
        chosen = [n.strip() for n in args.scenarios.split(",") if n.strip()]
        every = dict(SCENARIOS + LAYOUT_SCENARIOS + BRIDGE_SCENARIOS + BRIDGE_TAGGED_SCENARIOS + SESSION_SCENARIOS +
                     AYEPI_SCENARIOS + XP_SCENARIOS)
        unknown = [n for n in chosen if n not in every]
        if unknown:
            ap.error(f"unknown scenario {', '.join(unknown)} (known: {', '.join(every)})")
        scenarios = [n for n in chosen if n in dict(SCENARIOS)]
        layout_scenarios = [n for n in chosen if n in dict(LAYOUT_SCENARIOS)]
        bridge_scenarios = [n for n in chosen if n in dict(BRIDGE_SCENARIOS + BRIDGE_TAGGED_SCENARIOS)]
        session_scenarios = [n for n in chosen if n in dict(SESSION_SCENARIOS)]
        ayepi_scenarios = [n for n in chosen if n in dict(AYEPI_SCENARIOS)]
        xp_scenarios = [n for n in chosen if n in dict(XP_SCENARIOS)]
    layout_names = names if layout_scenarios else []  # the Chat implementations, crossredis's in layout tagged
    bridge_names = names if bridge_scenarios else []  # the same, crossredis's in layout bridge
    if not scenarios:
        names = []
    if not session_scenarios:
        session_names = []
    if not ayepi_scenarios:
        ayepi_names = []
    if not xp_scenarios:
        xp_names = []
    go_drivers = Path(args.go_drivers)
    crossredis = Path(args.crossredis)
    if not os.access(crossredis, os.X_OK):
        ap.error(f"{crossredis} is not an executable crossredis command (build it, or pass --crossredis)")
    python = os.environ.get("XR_PYTHON") or sys.executable
    url = args.url or os.environ.get("REDIS_URL") or None
    if url:
        SECRETS.add_url(url)
    cluster = args.cluster or (url is not None and parse_cluster_url(url) is not None)
    if cluster and url and parse_cluster_url(url) is None:
        ap.error(f"--cluster: the server {redact_url(url)} (from {'--url' if args.url else 'REDIS_URL'}) is not "
                 f"a redis+cluster:// URL")
    if url and url.startswith("rediss+cluster://"):
        ap.error("rediss+cluster:// is not supported: the upstream drivers' cluster clients are plain TCP here")
    where = "the given server"
    if cluster and not url and os.environ.get("XR_TEST_CLUSTER_NODES"):
        url = "redis+cluster://" + os.environ["XR_TEST_CLUSTER_NODES"]
        where = "the suite run's shared cluster (XR_TEST_CLUSTER_NODES)"
    if args.xr_topology:
        tool = Path(args.xr_topology)
    else:  # the build tree of the crossredis command, else this source tree's build/
        near = [crossredis.resolve().parents[1] / "tests" / "harness" / "xr-topology",
                ROOT / "build" / "tests" / "harness" / "xr-topology"]
        tool = next((t for t in near if os.access(t, os.X_OK)), near[0])
    topology = "cluster" if cluster else "standalone"
    if cluster and bridge_names:
        if args.scenarios:
            ap.error("the bridge scenarios need one node (the bridge layout refuses a Cluster's cross-slot scripts)")
        bridge_names = []  # a default run on a Cluster: one node only (said in the output)
    expected_limits = {n: lim for n, lim in KNOWN_LIMITS.get(topology, {}).items()
                       if n in names or n in layout_names or n in bridge_names}

    # Everything made from here on is undone in the finally block, whatever happens: the drivers
    # stopped, the run's keys deleted, the temporary folder removed, the throwaway server stopped.
    # SIGTERM and SIGINT (Ctrl-C) end the run there too.
    old_term = signal.signal(signal.SIGTERM, on_signal)
    old_int = signal.signal(signal.SIGINT, on_signal)
    out = sys.stderr if args.json else sys.stdout
    tmp = Path(tempfile.mkdtemp(prefix="crossredis-interop-"))
    logs = tmp / "logs"
    logs.mkdir()
    prefix = f"interop-{os.getpid()}-{int(time.time())}"
    drivers: dict[str, Driver] = {}
    tagged_drivers: dict[str, Driver] = {}  # crossredis's Chat drivers with --layout tagged
    bridge_drivers: dict[str, Driver] = {}  # with --layout bridge
    session_drivers: dict[str, Driver] = {}
    ayepi_drivers: dict[str, Driver] = {}
    xp_drivers: dict[str, Driver] = {}
    limited: dict[str, tuple[KnownLimit, str]] = {}  # impl -> (its limit, what its driver said)
    server = None
    cluster_proc = None
    r: redis.Redis | redis.cluster.RedisCluster | None = None
    status = 1
    t0 = time.monotonic()
    try:
        if not url and cluster:
            t_cluster = time.monotonic()
            cluster_proc, url = start_cluster(tool, tmp)
            where = f"a throwaway cluster (xr-topology --cluster, up in {time.monotonic() - t_cluster:.1f} s)"
        elif not url:
            server_dir = tmp / "server"
            server_dir.mkdir()
            server, url = start_server(server_dir)
        env = {**os.environ, "REDIS_URL": url}
        r = open_checker(url)
        r.ping()
        for n in dict.fromkeys(names + layout_names + bridge_names):
            impl = BY_NAME[n]
            try:
                drivers[n] = Driver(impl, driver_command(impl, crossredis, python), env, prefix, logs / f"{n}.log")
            except DriverError as e:
                lim = expected_limits.get(n)
                if lim is None or lim.signature not in str(e):
                    raise
                limited[n] = (lim, SECRETS.scrub(str(e).split(": ", 1)[-1]))
        # the layout matrices: crossredis's drivers again with --layout, the upstream ones shared
        for layout, lnames, ldrivers in (("tagged", layout_names, tagged_drivers), ("bridge", bridge_names,
                                                                                      bridge_drivers)):
            for n in lnames:
                impl = BY_NAME[n]
                if impl.origin == "crossredis":
                    ldrivers[n] = Driver(impl, driver_command(impl, crossredis, python) + ["--layout", layout],
                                         env, prefix, logs / f"{n}-{layout}.log")
                elif n in drivers:
                    ldrivers[n] = drivers[n]
        ctx = Ctx(prefix, r, crossredis, env)
        tctx = Ctx(prefix, r, crossredis, env, tagged=True)
        bctx, btctx = Ctx(prefix, r, crossredis, env), Ctx(prefix, r, crossredis, env, tagged=True)
        # The session drivers: each store's keys under the run's prefix too.
        sctx = SessionCtx(r, f"{prefix}:thv:proxy:session:", f"{prefix}:thv:vmcp:session:")
        for n in session_names:
            impl = SESSION_BY_NAME[n]
            if impl.runtime == "go" and not os.access(go_drivers / n.removeprefix("go-"), os.X_OK):
                raise DriverError(f"{n}: {go_drivers / n.removeprefix('go-')} is missing: scripts/bootstrap builds "
                                  f"it (interop/drivers/go/build), or pass --go-drivers DIR")
            session_drivers[n] = Driver(impl, session_driver_command(impl, crossredis, python, go_drivers,
                                                                     sctx.data_prefix),
                                        env, sctx.prefix, logs / f"sessions-{n}.log")
        # The ayepi drivers: the Store, the cache and the channel under the run's prefix too.
        actx = AyepiCtx(r, f"{prefix}:ayepi:p:", f"{prefix}:ayepi:cache:", cluster)
        for n in ayepi_names:
            ayepi_drivers[n] = Driver(AYEPI_BY_NAME[n], ayepi_driver_command(AYEPI_BY_NAME[n], crossredis, python,
                                                                             actx.cache_prefix, f"{prefix}:ayepi"),
                                      env, actx.prefix, logs / f"ayepi-{n}.log")
        # The xp drivers: a prefix with a glob character, and another tenant's that it matches unescaped.
        xctx = XpCtx(r, f"{prefix}:x*p:", f"{prefix}:x-other-p:", cluster)
        for n in xp_names:
            xp_drivers[n] = Driver(XP_BY_NAME[n], xp_driver_command(XP_BY_NAME[n], crossredis, python), env,
                                   xctx.prefix, logs / f"xp-{n}.log")
        if cluster:
            assert isinstance(r, redis.cluster.RedisCluster)
            print(f"interop: a Redis Cluster of {plural(len(r.get_primaries()), 'master')}, {where}: "
                  f"{redact_url(url)} (keys under {prefix}:)", file=out)
        else:
            print(f"interop: on {redact_url(url)} (keys under {prefix}:)", file=out)
        cells: list[Cell] = []
        entry_groups: list[dict[str, Any]] = []
        mig: dict[str, Any] = {"skipped": True}
        mig_ok = True
        if names:
            print(f"\nChat SDK state: {plural(len(names), 'implementation')}", file=out)
            for n in names:
                d = drivers.get(n)
                if d is not None:
                    print(f"  {d.impl.name:20} {d.impl.runtime:11} {d.library}", file=out)
                else:
                    print(f"  {n:20} {BY_NAME[n].runtime:11} cannot run here (known limit): {limited[n][1]}", file=out)
            started_limits = {n: lim for n, lim in expected_limits.items() if n in drivers}
            cells = run_matrix(ctx, names, drivers, limited, started_limits, scenarios)
            print_tables(cells, names, scenarios, out)
            entry_groups = compare_entries(ctx, names)
            if entry_groups:
                print("\nqueue entries written for one message with pinned times, compared byte for byte:", file=out)
            for g in entry_groups:
                verdict = "identical" if g["identical"] else f"DIFFERENT ({', '.join(g['differing'])})"
                print(f"  {g['json']} JSON, {g['entries']} spelling: {', '.join(g['producers'])}: {verdict}, "
                      f"{g['bytes']} bytes", file=out)
            if not args.no_migration and "ts-ioredis" in drivers and "py-crossredis-both" in drivers:
                try:
                    mig = {"ok": True, **migration(ctx, drivers["ts-ioredis"], drivers["py-crossredis-both"])}
                except Failure as e:
                    mig, mig_ok = {"ok": False, "error": SECRETS.scrub(e)}, False
                print(f"\nmigration (ts-ioredis -> py-crossredis-both, crossredis drain --origin ts-ioredis): "
                      f"{'ok' if mig_ok else 'FAIL'}: " +
                      (f"{mig['queued']} queued, {mig['delivered']} delivered, drained in {mig['drain_seconds']} s"
                       if mig_ok else mig["error"]), file=out)
        layout_cells: list[Cell] = []
        layout_groups: list[dict[str, Any]] = []
        if layout_names:
            print("\nChat SDK tagged layout: crossredis's implementations with layout \"tagged\" (thread T: "
                  "<prefix>:lock:{T}, <prefix>:queue:{T}), the upstream ones given \"{T}\" as the thread id",
                  file=out)
            started_limits = {n: lim for n, lim in expected_limits.items() if n in tagged_drivers}
            layout_cells = run_matrix(tctx, layout_names, tagged_drivers, limited, started_limits, layout_scenarios,
                                      LAYOUT_SCENARIOS)
            print_tables(layout_cells, layout_names, layout_scenarios, out, "tagged layout: ")
            # the layout changes keys only: each producer's entry is the bytes of its upstream-layout run
            layout_groups = compare_entries(tctx, layout_names) + [
                {"runtime": BY_NAME[n].runtime, "json": BY_NAME[n].json, "entries": "tagged vs upstream layout",
                 "producers": [n], "identical": tctx.entries[n] == ctx.entries[n], "bytes": len(tctx.entries[n]),
                 "differing": [] if tctx.entries[n] == ctx.entries[n] else [n]}
                for n in layout_names if n in tctx.entries and n in ctx.entries]
            if layout_groups:
                print("\nqueue entries in the tagged layout for one message with pinned times, compared byte for "
                      "byte:", file=out)
            for g in layout_groups:
                verdict = "identical" if g["identical"] else f"DIFFERENT ({', '.join(g['differing'])})"
                print(f"  {g['json']} JSON, {g['entries']}: {', '.join(g['producers'])}: {verdict}, {g['bytes']} bytes",
                      file=out)
        bridge_cells: list[Cell] = []
        for title, label, bc, table in (
                ("Chat SDK bridge layout, step 1: crossredis's implementations with layout \"bridge\" beside the "
                 "upstream ones in upstream's layout (thread id T)", "bridge + upstream layout: ", bctx,
                 BRIDGE_SCENARIOS),
                ("Chat SDK bridge layout, step 2: crossredis's implementations with layout \"bridge\" beside the "
                 "upstream ones in the tagged layout (given \"{T}\")", "bridge + tagged layout: ", btctx,
                 BRIDGE_TAGGED_SCENARIOS)):
            chosen = [n for n, _ in table if n in bridge_scenarios]
            if not bridge_names or not chosen:
                continue
            print(f"\n{title}", file=out)
            started_limits = {n: lim for n, lim in expected_limits.items() if n in bridge_drivers}
            mine = run_matrix(bc, bridge_names, bridge_drivers, limited, started_limits, chosen, table)
            print_tables(mine, bridge_names, chosen, out, label)
            bridge_cells += mine
        if cluster and names and not bridge_names:
            print("\nChat SDK bridge layout: not run on a Cluster (it needs one node: its scripts take both "
                  "layouts' keys)", file=out)
        session_cells, records = run_system(
            "toolhive sessions", "sessions: ", sctx, session_names, session_drivers, session_scenarios,
            run_session_matrix, compare_records,
            "session records written for the same session (its id aside), compared byte for byte", out)
        ayepi_cells, ayepi_bytes = run_system(
            "ayepi", "ayepi: ", actx, ayepi_names, ayepi_drivers, ayepi_scenarios, run_ayepi_matrix,
            compare_ayepi_bytes, "ayepi texts written for the same event and entry (tags aside), compared byte for "
            "byte with ts-ayepi's (JSON.stringify)", out)
        xp_cells, xp_bytes = run_system(
            "xp (xml-pipeline's context buffer and registry)", "xp: ", xctx, xp_names, xp_drivers, xp_scenarios,
            run_xp_matrix, compare_xp_bytes, "xp slots and registry values written for the same input, compared "
            "byte for byte", out)
        spread: dict[str, int] | None = None
        spread_ok = True
        every_key = ctx.keys | tctx.keys | bctx.keys | btctx.keys | sctx.keys | actx.keys | xctx.keys
        if cluster and every_key:
            assert isinstance(r, redis.cluster.RedisCluster)
            reached, masters, slots = masters_reached(r, every_key)
            spread = {"keys": len(every_key), "slots": slots, "masters_reached": reached, "masters": masters}
            spread_ok = reached == masters
            print(f"\nthe run's keys: {len(every_key)} in {slots} slots on {reached} of {plural(masters, 'master')}"
                  + ("" if spread_ok else " (FAIL: every master must serve some of them)"), file=out)
        every_cell = cells + layout_cells + bridge_cells + session_cells + ayepi_cells + xp_cells
        bad = [c for c in every_cell if not c.good]
        counts = {s: sum(1 for c in every_cell if c.status == s) for s in SYMBOL}
        ok = (not bad and mig_ok and spread_ok and all(g["identical"] for g in entry_groups + layout_groups)
              and all(g["identical"] for g in records) and all(g["identical"] for g in ayepi_bytes)
              and all(g["identical"] for g in xp_bytes))
        print(f"\n{plural(len(every_cell), 'pair')}{' on the Cluster' if cluster else ''}: {counts['ok']} ok, "
              f"{plural(counts['known-incompatible'], 'known upstream incompatibility', 'known upstream incompatibilities')}, "
              + (f"{plural(counts['known-limit'], 'known limit')}, " if cluster or counts["known-limit"] else "")
              + f"{counts['FAIL']} failed, {plural(counts['UNEXPECTED-PASS'], 'unexpected pass', 'unexpected passes')}; "
              f"{time.monotonic() - t0:.1f} s", file=out)
        if args.json:
            json.dump({"url": redact_url(url), "topology": topology, "prefix": prefix, "ok": ok,
                       "limits": {n: {"why": lim.why, "driver": said} for n, (lim, said) in limited.items()},
                       "keys_spread": spread,
                       "implementations": {d.impl.name: {"runtime": d.impl.runtime, "library": d.library}
                                           for d in drivers.values()},
                       "results": [c.__dict__ for c in cells], "entries": entry_groups, "migration": mig,
                       "tagged_layout": {"results": [c.__dict__ for c in layout_cells], "entries": layout_groups},
                       "bridge_layout": {"results": [c.__dict__ for c in bridge_cells]},
                       "sessions": {"implementations": {d.impl.name: {"runtime": d.impl.runtime,
                                                                      "library": d.library}
                                                        for d in session_drivers.values()},
                                    "results": [c.__dict__ for c in session_cells], "records": records},
                       "ayepi": {"implementations": {d.impl.name: {"runtime": d.impl.runtime, "library": d.library}
                                                     for d in ayepi_drivers.values()},
                                 "results": [c.__dict__ for c in ayepi_cells], "texts": ayepi_bytes},
                       "xp": {"implementations": {d.impl.name: {"runtime": d.impl.runtime, "library": d.library}
                                                  for d in xp_drivers.values()},
                              "results": [c.__dict__ for c in xp_cells], "bytes": xp_bytes},
                       "counts": counts},
                      sys.stdout, indent=2)
            print()
        status = 0 if ok else 1
    except DriverError as e:
        print(f"interop: {SECRETS.scrub(e)}", file=sys.stderr)
    except redis.RedisError as e:
        print(f"interop: the server {redact_url(url or '')}: {SECRETS.scrub(e)}", file=sys.stderr)
    except Interrupted as e:
        print(f"\ninterop: interrupted ({e}); cleaning up", file=sys.stderr)
        status = 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        shared = set(map(id, drivers.values()))
        tagged_own = [d for d in [*tagged_drivers.values(), *bridge_drivers.values()] if id(d) not in shared]
        for d in [*drivers.values(), *tagged_own, *session_drivers.values(), *ayepi_drivers.values(),
                  *xp_drivers.values()]:
            d.close()
        if r is not None:
            try:
                delete_keys(r, prefix)
            except redis.RedisError as e:
                print(f"interop: could not delete the keys under {prefix}: {SECRETS.scrub(e)}", file=sys.stderr)
            r.close()
        if server is not None:
            server.kill()
            server.wait()
        if cluster_proc is not None:
            stop_cluster(cluster_proc)
        if status not in (0, 130):
            show_logs(logs)
        if args.keep_logs:
            for log in logs.glob("*.log"):
                log.write_text(SECRETS.scrub(log.read_text(errors="replace")))
            print(f"interop: driver logs kept in {logs}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return status


if __name__ == "__main__":
    sys.exit(main())
