"""toolhive's session cycle from Python (bench/README.md, "session_cycle"): crossredis.sessions
against the same operations written over redis-py; bench/sessions/run runs these modes beside the
real Go RedisStorage, C and Node against one throwaway redis-server.

One cycle is RedisStorage's Store then Load (SPEC.md 2.1): `set thv:proxy:session:<id> <record> ex
7200`, then `getex <key> ex 7200` and the record read back. The 64 sessions are the benchmark's
(bench/README.md): ids 5e55104e-be4c-4000-8000-<k as 12 hex digits>, type "mcp", fixed times with
nanoseconds, three metadata entries (the owner among them); every runtime writes the same bytes.

Modes (N cycles a run):
  xr-seq           crossredis.sessions.RedisStorage(url=...): store(session), load(id); cycle i on
                   session i % 64
  redispy-seq      redis.Redis (hiredis parser), what a Python RedisStorage over redis-py would do:
                   the record made per store as Go writes it (json.dumps of the fields in Go's order,
                   compact: for these values Go's bytes), set(key, record, ex=7200); then
                   getex(key, ex=7200) and json.loads of the record into a dict
  xr-async64       crossredis.sessions.AsyncRedisStorage: N/64 rounds, each asyncio.gather of 64
                   cycles (session k in the k-th), `await store(s); await load(id)`
  redispy-async64  redis.asyncio.Redis with the commands of redispy-seq, the same way

Every load is checked (id, type, owner); a failed check ends the program with status 1.

Usage:
  session_cycle.py MODE --url URL [-n CYCLES]   one mode after a warm-up; prints cycles/s
  session_cycle.py worker --url URL             every mode opened once, "ready {versions}"; then
                                                per stdin line "MODE N" one run, answered "MODE
                                                CYCLES SECONDS CPU_SECONDS" (bench/sessions/suite.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Callable

import redis
import redis.asyncio
import redis.utils

from crossredis.sessions import BINDING_KEY, AsyncRedisStorage, RedisStorage, Session

N = 64  # sessions, and the concurrency of the asyncio modes
PREFIX = "thv:proxy:session:"
TTL_S = 7200
CREATED_AT = "2026-12-05T09:00:00.123456789Z"
UPDATED_AT = "2026-12-05T09:30:00.987654321Z"
OWNER = "user:bench@example.com"
METADATA = {"backend_sid": "mcp-session-7f3a9c2e", "backend_url": "http://127.0.0.1:8080/mcp", BINDING_KEY: OWNER}
IDS = [f"5e55104e-be4c-4000-8000-{k:012x}" for k in range(N)]
KEYS = [PREFIX + i for i in IDS]
# crossredis's default timeouts, given to redis-py too (toolhive's go-redis: dial 5 s, read 3 s).
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 3.0


class CycleFailed(Exception):
    pass


def record(session_id: str) -> str:
    """The record toolhive writes for session `session_id` (the fields in Go's order, compact; the
    values need no escaping Go and json.dumps would do differently)."""
    return json.dumps({"id": session_id, "type": "mcp", "created_at": CREATED_AT, "updated_at": UPDATED_AT,
                       "metadata": METADATA}, separators=(",", ":"))


def check(mode: str, session_id: str, got_id: Any, got_type: Any, metadata: Any) -> None:
    if got_id != session_id or got_type != "mcp" or metadata.get(BINDING_KEY) != OWNER:
        raise CycleFailed(f"{mode}: load {session_id}: got id {got_id!r} type {got_type!r} metadata {metadata!r}")


def xr_sessions() -> list[Session]:
    """The 64 sessions as crossredis holds them: the times as datetimes (microseconds) with their
    exact text (nanoseconds), which store writes back while the datetime is unchanged."""
    created = datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=timezone.utc)
    updated = datetime(2026, 12, 5, 9, 30, 0, 987654, tzinfo=timezone.utc)
    return [Session(id=i, type="mcp", created_at=created, updated_at=updated, metadata=dict(METADATA),
                    created_at_text=CREATED_AT, updated_at_text=UPDATED_AT) for i in IDS]


def redispy_options() -> dict[str, Any]:
    if not redis.utils.HIREDIS_AVAILABLE:
        sys.exit("session_cycle.py: redis-py does not see hiredis (pip install 'redis[hiredis]')")
    return {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": COMMAND_TIMEOUT_S}


# ---- the modes ----------------------------------------------------------------------------------
# Each is opened once; run(n) does n cycles (asyncio: n // 64 rounds of 64) and returns how many.


class XrSeq:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.st = RedisStorage(url=url)
        self.sessions = xr_sessions()

    def run(self, n: int) -> int:
        st, sessions = self.st, self.sessions
        for i in range(n):
            s = sessions[i % N]
            st.store(s)
            got = st.load(s.id)
            check("xr-seq", s.id, got.id, got.type, got.metadata)
        return n

    def close(self) -> None:
        self.st.close()


class RedisPySeq:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.r = redis.Redis.from_url(url, **redispy_options())

    def run(self, n: int) -> int:
        r = self.r
        for i in range(n):
            k = i % N
            session_id, key = IDS[k], KEYS[k]
            r.set(key, record(session_id), ex=TTL_S)
            d = json.loads(r.getex(key, ex=TTL_S))
            check("redispy-seq", session_id, d["id"], d["type"], d["metadata"])
        return n

    def close(self) -> None:
        self.r.close()


class AsyncMode(ABC):
    """Rounds of 64 concurrent cycles (asyncio.gather), on one event loop kept for the suite."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.run_until_complete(self.open(url))

    @abstractmethod
    async def open(self, url: str) -> None:
        """Opens the store or client the mode's cycles use."""

    @abstractmethod
    async def cycle(self, k: int) -> None:
        """One Store + Load of session `k`, checked."""

    async def rounds(self, n: int) -> None:
        cycle = self.cycle
        for _ in range(n):
            await asyncio.gather(*[cycle(k) for k in range(N)])

    def run(self, n: int) -> int:
        rounds = max(1, (n + N - 1) // N)
        self.loop.run_until_complete(self.rounds(rounds))
        return rounds * N


class XrAsync(AsyncMode):
    async def open(self, url: str) -> None:
        self.st = AsyncRedisStorage(url=url)
        await self.st.connect()
        self.sessions = xr_sessions()

    async def cycle(self, k: int) -> None:
        s = self.sessions[k]
        await self.st.store(s)
        got = await self.st.load(s.id)
        check("xr-async64", s.id, got.id, got.type, got.metadata)

    def close(self) -> None:
        self.loop.run_until_complete(self.st.close())


class RedisPyAsync(AsyncMode):
    async def open(self, url: str) -> None:
        self.r = redis.asyncio.Redis.from_url(url, **redispy_options())
        await self.r.ping()

    async def cycle(self, k: int) -> None:
        session_id, key = IDS[k], KEYS[k]
        await self.r.set(key, record(session_id), ex=TTL_S)
        d = json.loads(await self.r.getex(key, ex=TTL_S))
        check("redispy-async64", session_id, d["id"], d["type"], d["metadata"])

    def close(self) -> None:
        self.loop.run_until_complete(self.r.aclose())


OPENERS: dict[str, Callable[[str, asyncio.AbstractEventLoop], Any]] = {
    "xr-seq": XrSeq, "redispy-seq": RedisPySeq, "xr-async64": XrAsync, "redispy-async64": RedisPyAsync,
}


def timed(mode: Any, n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    done = mode.run(n)
    return done, time.perf_counter() - t0


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "redis_py": redis.__version__,
            "hiredis_py": metadata.version("hiredis"), "crossredis": metadata.version("crossredis")}


def worker(url: str) -> None:
    loop = asyncio.new_event_loop()
    opened = {m: OPENERS[m](url, loop) for m in OPENERS}
    print("ready", json.dumps(versions()), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        name, n = line.split()
        cpu = time.process_time()
        done, seconds = timed(opened[name], int(n))
        print(f"{name} {done} {seconds:.9f} {time.process_time() - cpu:.6f}", flush=True)
    for m in opened.values():
        m.close()
    loop.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["worker", *OPENERS])
    p.add_argument("--url", required=True, help="redis://host:port (touches the 64 bench sessions' keys only)")
    p.add_argument("-n", type=int, default=10000, help="cycles, one mode (default 10000)")
    args = p.parse_args()
    try:
        if args.mode == "worker":
            worker(args.url)
            return 0
        loop = asyncio.new_event_loop()
        mode = OPENERS[args.mode](args.url, loop)
        timed(mode, min(args.n, 640))
        done, seconds = timed(mode, args.n)
        mode.close()
        loop.close()
        print(f"{args.mode} {done} {seconds:.6f} {done / seconds:.0f}")
        return 0
    except CycleFailed as e:
        print(f"session_cycle.py: FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
