"""The ayepi matrix of the interop suite (interop/run.py): @ayepi/redis 0.4's work Store, response
cache and broker (SPEC.md 3), every producer x consumer pair of crossredis's C, Python and Node
drivers and ts-ayepi (the package's factories re-implemented over ioredis: it is not on the npm
registry), through one shared Redis. Events: the consumer subscribes, the producer publishes the
envelope it wrote, the consumer receives exactly those bytes. Store: what one sets, claims and
counts the other reads, claims and counts. Cache: an entry set by one is read, invalidated, cleared
and deleted by the other; the runner reads the bytes and TTLs itself, and compares what every
producer wrote for the same entry and event byte for byte (JSON.stringify's, ts-ayepi's). The
protocol is interop/CONTRACT.md, "ayepi"."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import redis
import redis.cluster

from matrix import Cell, Driver, RunCtx, attempt, check, pairs

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "interop" / "drivers"

TTL_MS = 600_000      # the Store's TTLs in the matrix
NOW_MS = 4_102_444_000_000  # the cache's clock, given: a deterministic PX
STALE_MS = 300_000    # an entry's staleUntil - now: its PX
RECEIVE_MS = 5_000    # how long a consumer waits for a message


@dataclass(frozen=True)
class AyepiImpl:
    name: str
    runtime: str       # "c", "python", "typescript"
    upstream: bool     # ts-ayepi: upstream's defects included (one node's SCAN, multi-key DEL on a Cluster)


AYEPI_IMPLS = [
    AyepiImpl("c", "c", False),
    AyepiImpl("py-crossredis", "python", False),
    AyepiImpl("ts-crossredis", "typescript", False),
    AyepiImpl("ts-ayepi", "typescript", True),
]
AYEPI_BY_NAME = {i.name: i for i in AYEPI_IMPLS}

UPSTREAM_SWEEPS = ("@ayepi/redis 0.4's clear and invalidate SCAN one node of a Cluster and delete the matches with "
                   "one multi-key DEL (CROSSSLOT): on a Cluster a sweep by ts-ayepi misses keys of other masters; "
                   "crossredis scans every master and deletes per key")
UPSTREAM_SWEEP_FAILS = ("CROSSSLOT", "invalidated", "clear left entries")


def ayepi_driver_command(impl: AyepiImpl, crossredis: Path, python: str, cache_prefix: str,
                         channel: str) -> list[str]:
    """The driver's command with ayepi's options but --impl and --prefix (Driver adds them)."""
    node = shutil.which("node") or "node"
    if impl.runtime == "c":
        cmd = [str(crossredis), "driver", "--system", "ayepi"]
    elif impl.runtime == "python":
        cmd = [python, str(DRIVERS / "py_driver.py"), "--system", "ayepi"]
    elif impl.upstream:
        cmd = [node, str(DRIVERS / "ayepi_driver.mjs")]
    else:
        cmd = [node, str(DRIVERS / "ts_driver.mjs"), "--system", "ayepi"]
    return cmd + ["--cache-prefix", cache_prefix, "--channel", channel]


# What every producer writes for the same input; the bytes must be equal across producers.
TEXT = "<&> \u2028\u2029 \x01 \"q\" \\ b\u00e4r \U0001f600 </script>"
PARAMS = {"job": "j-1", "b": 2, "a": [1.5, None, True]}
DATA = {"text": TEXT, "pct": 77, "n": 1700000000000, "f": 0.1, "nested": {"z": {}, "a": []}}


def entry(key: str, path: str) -> dict[str, Any]:
    """A cache entry as ayepi's middleware makes it (its key order: JSON.stringify keeps the order it
    is given, so ts-ayepi writes SPEC 3's order only when handed it; crossredis writes it whatever it
    is handed, which the C tests check)."""
    body = json.dumps({"id": "1", "text": TEXT}, ensure_ascii=False)
    return {"body": body, "status": 200, "headers": [["content-type", "application/json"], ["x-tag", TEXT]],
            "storedAt": NOW_MS, "expires": NOW_MS + 60_000, "staleUntil": NOW_MS + STALE_MS,
            "bytes": len(body.encode()), "method": "GET", "path": path, "key": key}


@dataclass
class AyepiCtx(RunCtx):
    r: redis.Redis | redis.cluster.RedisCluster
    prefix: str        # the work Store's prefix in this run
    cache_prefix: str  # the response cache's
    cluster: bool

    def key(self, k: str) -> str:
        return self.under(self.prefix, k)

    def cache_key(self, k: str) -> str:
        return self.under(self.cache_prefix, k)


def pttl_between(ctx: AyepiCtx, key: str, low: int, high: int, what: str) -> None:
    pttl = ctx.r.pttl(key)
    check(low < pttl <= high, f"{what}: PTTL {pttl} ms, not in ({low}, {high}]")


# ---- scenarios ---------------------------------------------------------------------------------

def sc_events(ctx: AyepiCtx, a: Driver, b: Driver, tag: str) -> str:
    """The producer writes an event's envelope and publishes it; the consumer (subscribed since the
    start, as every driver is) receives exactly those bytes, once."""
    env = a.ok("ayepi.envelope", ch=f"progress:{tag}", params=PARAMS, data=DATA)
    check(isinstance(env, str), f"{a.impl.name}'s envelope is not a text: {env!r}")
    check(json.loads(env) == {"ch": f"progress:{tag}", "params": PARAMS, "data": DATA},
          f"{a.impl.name}'s envelope says something else: {env[:200]}")
    ctx.record("an event envelope", a.impl.name, env.replace(tag, "<tag>").encode())
    seen = len(b.ok("ayepi.received", count=0))
    a.ok("ayepi.publish", message=env)
    deadline = time.monotonic() + RECEIVE_MS / 1000
    while True:  # earlier pairs' messages may still be on their way to b: wait for this one
        got = b.ok("ayepi.received", count=seen + 1, timeout_ms=max(0, int((deadline - time.monotonic()) * 1000)))
        if env in got[seen:] or time.monotonic() >= deadline:
            break
        seen = len(got)
    check(env in got[seen:], f"{b.impl.name} did not receive the envelope within {RECEIVE_MS} ms"
          + (f" (last: {got[-1][:120]!r})" if got else ""))
    check(got.count(env) == 1, f"{b.impl.name} received the envelope {got.count(env)} times")
    return f"{len(env.encode())} bytes"


def sc_store(ctx: AyepiCtx, a: Driver, b: Driver, tag: str) -> str:
    """The work Store: set (with and without a TTL), get, claims, counters, delete."""
    k, claim, n = f"v-{tag}", f"claim-{tag}", f"count-{tag}"
    a.ok("ayepi.set", key=k, value=TEXT, ttl_ms=TTL_MS)
    check(ctx.r.get(ctx.key(k)) == TEXT.encode(), f"{a.impl.name} stored other bytes at {ctx.key(k)}")
    pttl_between(ctx, ctx.key(k), TTL_MS - 10_000, TTL_MS, f"{a.impl.name}'s set")
    check(b.ok("ayepi.get", key=k) == TEXT, f"{b.impl.name} read another value")
    check(a.ok("ayepi.set_if_not_exists", key=claim, value="1", ttl_ms=TTL_MS) is True,
          f"{a.impl.name} could not claim")
    check(b.ok("ayepi.set_if_not_exists", key=claim, value="1", ttl_ms=TTL_MS) is False,
          f"{b.impl.name} claimed what {a.impl.name} holds")
    pttl_between(ctx, ctx.key(claim), TTL_MS - 10_000, TTL_MS, f"{a.impl.name}'s claim")
    check(a.ok("ayepi.increment", key=n, by=2, ttl_ms=TTL_MS) == 2, f"{a.impl.name}'s increment")
    check(b.ok("ayepi.increment", key=n, by=3) == 5, f"{b.impl.name}'s increment of {a.impl.name}'s counter")
    pttl_between(ctx, ctx.key(n), TTL_MS - 10_000, TTL_MS, "the counter")
    b.ok("ayepi.delete", key=k)
    check(a.ok("ayepi.get", key=k) is None, f"{a.impl.name} still reads what {b.impl.name} deleted")
    return "set, get, claim, increment, delete"


def sc_cache(ctx: AyepiCtx, a: Driver, b: Driver, tag: str) -> str:
    """An entry set by the producer: its bytes JSON.stringify's in ayepi's key order, PX staleUntil
    - now; read and deleted by the consumer."""
    k = f"GET /users/{tag}"
    e = entry(k, "/users/:id")
    a.ok("ayepi.cache_set", key=k, entry=e, now_ms=NOW_MS)
    raw = ctx.r.get(ctx.cache_key(k))
    check(raw is not None, f"{a.impl.name} stored no entry at {ctx.cache_key(k)}")
    check(list(json.loads(raw)) == ["body", "status", "headers", "storedAt", "expires", "staleUntil", "bytes",
                                    "method", "path", "key"], f"{a.impl.name}'s entry keys: {raw[:200]!r}")
    ctx.record("a cache entry", a.impl.name, raw.replace(tag.encode(), b"<tag>"))
    pttl_between(ctx, ctx.cache_key(k), STALE_MS - 10_000, STALE_MS, f"{a.impl.name}'s entry")
    check(b.ok("ayepi.cache_get", key=k) == e, f"{b.impl.name} read another entry")
    check(b.ok("ayepi.cache_delete", key=k) is True, f"{b.impl.name} did not delete the entry")
    check(a.ok("ayepi.cache_get", key=k) is None, f"{a.impl.name} still reads the deleted entry")
    check(b.ok("ayepi.cache_delete", key=k) is False, f"{b.impl.name} deleted the entry twice")
    return f"{len(raw)} bytes"


def sc_sweeps(ctx: AyepiCtx, a: Driver, b: Driver, tag: str) -> str:
    """The consumer invalidates the producer's entries of one path (only those) and clears the rest."""
    # 12 of each: on a Cluster they span masters and slots (upstream's one-node SCAN and one DEL show)
    keep, go = [f"GET /keep/{tag}/{i}" for i in range(12)], [f"GET /go/{tag}/{i}" for i in range(12)]
    for k in keep:
        a.ok("ayepi.cache_set", key=k, entry=entry(k, f"/keep/{tag}"), now_ms=NOW_MS)
    for k in go:
        a.ok("ayepi.cache_set", key=k, entry=entry(k, f"/go/{tag}"), now_ms=NOW_MS)
    removed = b.ok("ayepi.cache_invalidate", path=f"/go/{tag}")
    check(removed == len(go), f"{b.impl.name} invalidated {removed} entries, not {len(go)}")
    check(all(ctx.r.exists(ctx.cache_key(k)) == 0 for k in go), f"{b.impl.name} left an invalidated entry")
    check(all(ctx.r.exists(ctx.cache_key(k)) == 1 for k in keep), f"{b.impl.name} invalidated another path")
    b.ok("ayepi.cache_clear")
    check(all(ctx.r.exists(ctx.cache_key(k)) == 0 for k in keep), f"{b.impl.name}'s clear left entries")
    return f"{len(go)} invalidated, {len(keep)} cleared"


AYEPI_SCENARIOS: list[tuple[str, Callable[[AyepiCtx, Driver, Driver, str], str]]] = [
    ("ayepi-events", sc_events),
    ("ayepi-store", sc_store),
    ("ayepi-cache", sc_cache),
    ("ayepi-sweeps", sc_sweeps),
]


def subscribe_all(drivers: dict[str, Driver]) -> None:
    """Every driver subscribes before the first event (a message published before is lost)."""
    for d in drivers.values():
        d.ok("ayepi.subscribe")


def run_ayepi_matrix(ctx: AyepiCtx, names: list[str], drivers: dict[str, Driver], scenarios: list[str]) -> list[Cell]:
    """Every producer x consumer pair of `names` in each scenario; on a Cluster a sweep by
    ts-ayepi is expected to fail as upstream fails (a CROSSSLOT DEL, or entries of other masters
    missed): a known incompatibility, and an UNEXPECTED-PASS should it work."""
    subscribe_all({n: drivers[n] for n in names})
    cells = []
    for tag, scenario, fn, pa, pb in pairs(AYEPI_SCENARIOS, scenarios, names):
        a, b = drivers[pa], drivers[pb]
        upstream_sweep = scenario == "ayepi-sweeps" and ctx.cluster and b.impl.upstream
        detail, passed = attempt(fn, ctx, a, b, tag)
        if not upstream_sweep:
            status = "ok" if passed else "FAIL"
        elif passed:
            status = "UNEXPECTED-PASS"
        else:  # failing is expected, but only the way upstream fails
            status = "known-incompatible" if any(s in detail for s in UPSTREAM_SWEEP_FAILS) else "FAIL"
        cells.append(Cell(scenario, pa, pb, "fail" if upstream_sweep else "pass", status, detail,
                          UPSTREAM_SWEEPS if upstream_sweep else None))
    return cells


def compare_ayepi_bytes(ctx: AyepiCtx) -> list[dict[str, Any]]:
    """Every writer of an envelope or an entry must have written ts-ayepi's bytes (JSON.stringify's)."""
    return ctx.written.compare(lambda writers: "ts-ayepi" if "ts-ayepi" in writers else writers[0])
