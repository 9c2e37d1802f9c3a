"""xml-pipeline's context buffer and thread registry from Python (bench/README.md, "xp"; issue 15):
``crossredis.xp.RedisBackend`` against the upstream-shaped redis-py backend of the interop suite
(``interop/drivers/xp_upstream.py``'s ``UpstreamRedisBackend``: SPEC.md 4's commands, RPUSH then
EXPIRE, LRANGE 0 -1, the registry's MULTI pipeline of the two SETs, GET), one backend object per
side shared by every thread, as a deployment shares one. bench/xp/run runs these modes against one
throwaway redis-server (bench/xp/suite.py).

Modes (N cycles a run, a multiple of 512; ``xr`` crossredis, ``upstream`` redis-py 8 with its
hiredis parser; ``-t8``: 8 threads, each N/8 cycles on thread ids and chains of its own):
  <side>-append-get      cycle on buffer thread t (64 of them, ``bench-t<t>``, emptied before the
                         run by the suite): ``buffer_append(t, slot)`` of a ~500-byte pickled
                         BufferSlot, then ``buffer_get_thread(t)``; each thread grows to N/64 slots
  <side>-registry        ``registry_set(chain, uuid)`` of a pair new to the run, then
                         ``registry_get_uuid(chain)`` and ``registry_get_chain(uuid)``

Sequential: cycle i on thread (or chain group) i % 64. 8 threads: thread k takes ids 8k..8k+7, its
cycle m on 8k + m % 8: the same 64 ids, the same lengths, the same pairs as sequential. Every
result is checked: the index an append returns, the whole thread read back (every slot's bytes),
the uuid and the chain read back. A wrong one ends the program with status 1.

Usage:
  xp_bench.py MODE --url URL [-n N]   one mode after a warm-up
  xp_bench.py worker --url URL        both backends opened once, "ready {versions}"; then per stdin
                                      line "MODE N" one run, answered "MODE COUNT SECONDS CPU_SECONDS"
                                      (bench/xp/suite.py clears and checks the keys around it)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import threading
import time
import uuid as uuidlib
from importlib import metadata
from typing import Any, Callable

import redis
import redis.utils

import crossredis
from crossredis.xp import BufferSlot, RedisBackend, SlotMetadata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "interop", "drivers"))
from xp_upstream import UpstreamRedisBackend  # noqa: E402  (the interop suite's upstream-shaped backend)

THREADS = 64  # buffer threads (and chain groups) of a run
WORKERS = 8  # the threaded modes' threads
TTL_S = 86400  # upstream's default
PREFIX = {"xr": "bench:xp:xr:", "upstream": "bench:xp:up:"}  # one length: the same key sizes
CONNECT_TIMEOUT_S = 5.0  # crossredis's defaults, given to redis-py too
COMMAND_TIMEOUT_S = 3.0
PAYLOAD = "<message><from>router</from><to>handler</to><body>" + "b" * 62 + "</body></message>"


class Failed(Exception):
    pass


# ---- what is written: the same bytes from both sides (the suite imports these) -------------------


def thread_id(t: int) -> str:
    return f"bench-t{t}"


_slots: dict[tuple[int, int], bytes] = {}


def slot(t: int, p: int) -> bytes:
    """Slot p of thread t: a pickled BufferSlot as xml-pipeline's ContextBuffer writes one (~500 bytes)."""
    s = _slots.get((t, p))
    if s is None:
        meta = SlotMetadata(thread_id=thread_id(t), from_id="system.bench.console.router", to_id="system.bench.handler",
                            slot_index=p, timestamp="2026-12-05T22:00:00.000000+00:00", payload_type="BenchMessage",
                            own_name="handler", is_self_call=False, usage_instructions="reply to the router")
        s = _slots[(t, p)] = pickle.dumps(BufferSlot(payload=PAYLOAD, metadata=meta), protocol=pickle.HIGHEST_PROTOCOL)
    return s


def thread_slots(t: int, n: int) -> list[bytes]:
    """What thread t holds after a run of n cycles."""
    return [slot(t, p) for p in range(n // THREADS)]


def pair(t: int, p: int) -> tuple[str, str]:
    """(chain, uuid) of pair p of group t."""
    return f"system.bench{t}.console.router.c{p}", str(uuidlib.UUID(int=(t << 32) | p, version=4))


def pairs(n: int) -> list[tuple[str, str]]:
    return [pair(t, p) for t in range(THREADS) for p in range(n // THREADS)]


# ---- the runs -------------------------------------------------------------------------------------


def append_get(mode: str, backend: Any, ids: list[int], cycles: int) -> None:
    """cycles on the threads ids (cycle m on ids[m % len(ids)], each emptied before the run)."""
    held: dict[int, list[bytes]] = {t: [] for t in ids}
    names = {t: thread_id(t) for t in ids}
    append, get_thread = backend.buffer_append, backend.buffer_get_thread
    k = len(ids)
    for m in range(cycles):
        t = ids[m % k]
        want = held[t]
        s = slot(t, len(want))
        index = append(names[t], s)
        want.append(s)
        if index != len(want) - 1:
            raise Failed(f"{mode}: buffer_append({names[t]!r}) returned {index}, want {len(want) - 1}")
        got = get_thread(names[t])
        if got != want:
            raise Failed(f"{mode}: buffer_get_thread({names[t]!r}): {len(got)} slots, not the {len(want)} appended")


def registry(mode: str, backend: Any, ids: list[int], cycles: int) -> None:
    set_, get_uuid, get_chain = backend.registry_set, backend.registry_get_uuid, backend.registry_get_chain
    k = len(ids)
    for m in range(cycles):
        chain, uuid = pair(ids[m % k], m // k)
        set_(chain, uuid)
        got = get_uuid(chain)
        if got != uuid:
            raise Failed(f"{mode}: registry_get_uuid({chain!r}) = {got!r}, want {uuid!r}")
        got = get_chain(uuid)
        if got != chain:
            raise Failed(f"{mode}: registry_get_chain({uuid!r}) = {got!r}, want {chain!r}")


def threaded(mode: str, run: Callable[[str, Any, list[int], int], None], backend: Any, n: int) -> float:
    """WORKERS threads, thread k on ids 8k..8k+7, n / WORKERS cycles each; seconds from the start
    (all released together) to the last one's end."""
    per = THREADS // WORKERS
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS + 1)

    def body(k: int) -> None:
        try:
            start.wait()
            run(mode, backend, list(range(k * per, (k + 1) * per)), n // WORKERS)
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(WORKERS)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - t0
    if errors:
        e = errors[0]
        raise e if isinstance(e, Failed) else Failed(f"{mode}: {e!r}")
    return seconds


class Side:
    """One implementation's backend, opened once, shared by every thread."""

    def __init__(self, impl: str, url: str) -> None:
        self.impl = impl
        if impl == "xr":
            self.backend: Any = RedisBackend(url, prefix=PREFIX[impl], ttl=TTL_S)
        else:
            if not redis.utils.HIREDIS_AVAILABLE:
                sys.exit("xp_bench.py: redis-py does not see hiredis (pip install 'redis[hiredis]')")
            r = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S)
            r.ping()  # upstream pings when made
            self.backend = UpstreamRedisBackend(r, prefix=PREFIX[impl], ttl=TTL_S)

    def run(self, mode: str, n: int) -> tuple[int, float]:
        if n % (THREADS * WORKERS):
            raise Failed(f"{mode}: N must be a multiple of {THREADS * WORKERS}, not {n}")
        kind = mode[len(self.impl) + 1:]
        t8 = kind.endswith("-t8")
        run = {"append-get": append_get, "registry": registry}[kind[:-3] if t8 else kind]
        if t8:
            return n, threaded(mode, run, self.backend, n)
        t0 = time.perf_counter()
        run(mode, self.backend, list(range(THREADS)), n)
        return n, time.perf_counter() - t0

    def close(self) -> None:
        self.backend.close()


KINDS = ["append-get", "append-get-t8", "registry", "registry-t8"]
IMPLS = ["xr", "upstream"]
MODES = [f"{impl}-{kind}" for impl in IMPLS for kind in KINDS]


def clear(r: redis.Redis, impl: str) -> None:
    """Every key of the side's prefix gone (a run starts from empty threads and a new registry)."""
    keys = list(r.scan_iter(match=PREFIX[impl] + "*", count=1000))
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i:i + 1000])


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "redis_py": redis.__version__,
            "hiredis_py": metadata.version("hiredis"), "crossredis": metadata.version("crossredis")}


def worker(url: str) -> None:
    sides = {impl: Side(impl, url) for impl in IMPLS}
    print("ready", json.dumps(versions()), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        mode, n = line.split()
        impl = mode.split("-", 1)[0]
        cpu = time.process_time()
        try:
            done, seconds = sides[impl].run(mode, int(n))
        except Failed as e:
            print(f"xp_bench.py: FAILED: {e}", file=sys.stderr, flush=True)
            print(f"{mode} failed", flush=True)
            continue
        print(f"{mode} {done} {seconds:.9f} {time.process_time() - cpu:.6f}", flush=True)
    for side in sides.values():
        side.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["worker", *MODES])
    p.add_argument("--url", required=True, help="redis://host:port (touches bench:xp:* keys only)")
    p.add_argument("-n", type=int, default=1024, help="cycles, a multiple of 512 (default 1024)")
    args = p.parse_args()
    if args.mode == "worker":
        worker(args.url)
        return 0
    impl = args.mode.split("-", 1)[0]
    r = redis.Redis.from_url(args.url)
    side = Side(impl, args.url)
    try:
        for n in (512, args.n):  # a warm-up, then the run
            clear(r, impl)
            done, seconds = side.run(args.mode, n)
        print(f"{args.mode} {done} {seconds:.6f} {done / seconds:.0f}/s")
        return 0
    except Failed as e:
        print(f"xp_bench.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        clear(r, impl)
        side.close()
        r.close()


if __name__ == "__main__":
    sys.exit(main())
