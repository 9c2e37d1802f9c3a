"""The Chat SDK lock cycle from Python (bench/README.md, "python"): crossredis against redis-py sending
the same commands and against the Python port's own adapter (chat_sdk), in the same run, against one
throwaway redis-server on a free loopback port.

One cycle is acquire + release of the lock on thread `bench:<i % 64>`:
`SET chat-sdk:lock:bench:<i % 64> <token> PX 30000 NX`, then the compare-and-delete script.

Modes:
  redispy-seq      redis.Redis (hiredis parser); token as the port makes it; SET ... PX NX; the port's
                   release script by EVALSHA (redis-py's register_script, loaded before timing)
  xr-seq           crossredis.chat.State: acquire_lock, release_lock
  port-async64     chat_sdk.state.redis.RedisStateAdapter: per round 64 concurrent cycles
                   (asyncio.gather) on 64 thread ids, each `lock = await acquire_lock(); await release_lock(lock)`
  xr-async64       crossredis.chat.RedisStateAdapter, the same way
  redispy-async64  redis.asyncio.Redis with the commands of redispy-seq, the same way (for context)

Every reply is checked: an acquire must succeed (a release that did not delete makes a later acquire
of the same thread fail, within 64 cycles or one round), redis-py's release must return 1, and after
every run none of the 64 keys may remain. A failed check ends the program with status 1.

Usage:
  lock_cycle.py suite [--url URL] [--seq N] [--rounds N] [-r REPEATS] [--json FILE] [--profile DIR]
  lock_cycle.py MODE [--url URL] [-n CYCLES]      one mode, after a warm-up; prints cycles/s
Without --url a throwaway redis-server is started (XR_REDIS_SERVER names the binary).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib import metadata
from typing import Any

import redis
import redis.asyncio
import redis.utils
from chat_sdk.state.redis import _RELEASE_LOCK_SCRIPT as PORT_RELEASE_SCRIPT
from chat_sdk.state.redis import RedisStateAdapter as PortAdapter

try:
    import crossredis.chat as xr_chat
except ImportError:  # the Python layer is not built yet: the crossredis modes are skipped
    xr_chat = None

THREADS = 64  # distinct thread ids, and the concurrency of the asyncio modes
TTL_MS = 30000
THREAD_IDS = [f"bench:{k}" for k in range(THREADS)]
KEYS = [f"chat-sdk:lock:{t}" for t in THREAD_IDS]
# Connection and command timeouts where a client takes them: crossredis's defaults (as bench/run).
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 3.0

SEQ_MODES = ["redispy-seq", "xr-seq"]
ASYNC_MODES = ["port-async64", "xr-async64", "redispy-async64"]
MODES = SEQ_MODES + ASYNC_MODES
XR_MODES = {"xr-seq", "xr-async64"}
# Targets from the issue: (mode, baseline, minimum ratio).
TARGETS = [("xr-seq", "redispy-seq", 1.2), ("xr-async64", "port-async64", 4.0)]


class CycleFailed(Exception):
    pass


def fail(msg: str) -> None:
    raise CycleFailed(msg)


# ---- a throwaway redis-server -------------------------------------------------------------------


class Server:
    """redis-server on a free loopback port in a temporary directory, no persistence."""

    def __init__(self) -> None:
        binary = shutil.which(os.environ.get("XR_REDIS_SERVER", "redis-server"))
        if binary is None:
            sys.exit("lock_cycle.py: redis-server not found (scripts/bootstrap installs it)")
        self.dir = tempfile.mkdtemp(prefix="xr-pybench-")
        self.proc: subprocess.Popen[bytes] | None = None
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._ready():
                return
            self.close()
        sys.exit("lock_cycle.py: the redis-server did not start")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the modes ----------------------------------------------------------------------------------
# Each mode is opened once (clients and connections kept for the whole suite); run(n) does n cycles
# (sequential) or n rounds of 64 (asyncio) and returns the number of cycles done.


def port_token() -> str:
    """The Python port's token (chat_sdk.state.redis._generate_token), made inline as a user would."""
    return f"redis_{int(time.time() * 1000)}_{secrets.token_hex(16)}"


class RedisPySeq:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        if not redis.utils.HIREDIS_AVAILABLE:
            sys.exit("lock_cycle.py: redis-py does not see hiredis (pip install 'redis[hiredis]')")
        self.r = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      socket_timeout=COMMAND_TIMEOUT_S)
        self.release = self.r.register_script(PORT_RELEASE_SCRIPT)
        self.r.script_load(PORT_RELEASE_SCRIPT)

    def run(self, cycles: int) -> int:
        r, release, keys = self.r, self.release, KEYS
        for i in range(cycles):
            key = keys[i % THREADS]
            token = f"redis_{int(time.time() * 1000)}_{secrets.token_hex(16)}"
            if r.set(key, token, px=TTL_MS, nx=True) is not True:
                fail(f"redispy-seq: SET NX of {key} did not acquire")
            if release(keys=[key], args=[token]) != 1:
                fail(f"redispy-seq: the release script did not delete {key}")
        return cycles

    def close(self) -> None:
        self.r.close()


class XrSeq:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.state = xr_chat.State(url=url)

    def run(self, cycles: int) -> int:
        state, ids = self.state, THREAD_IDS
        for i in range(cycles):
            tid = ids[i % THREADS]
            lock = state.acquire_lock(tid, TTL_MS)
            if lock is None or lock.thread_id != tid:
                fail(f"xr-seq: acquire_lock({tid!r}) returned {lock!r}")
            state.release_lock(lock)
        return cycles

    def close(self) -> None:
        close = getattr(self.state, "close", None)
        if close is not None:
            close()


class AsyncMode(ABC):
    """64 concurrent cycles per round, asyncio.gather, all on one event loop kept for the suite."""

    name = ""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.run_until_complete(self.open(url))

    @abstractmethod
    async def open(self, url: str) -> None:
        """Opens the clients the mode's cycles use."""

    @abstractmethod
    async def cycle(self, tid: str, key: str) -> None:
        """One acquire + release of thread `tid`'s lock (its key `key`), checked."""

    async def rounds(self, n: int) -> None:
        cycle, ids, keys = self.cycle, THREAD_IDS, KEYS
        for _ in range(n):
            await asyncio.gather(*[cycle(ids[k], keys[k]) for k in range(THREADS)])

    def run(self, rounds: int) -> int:
        self.loop.run_until_complete(self.rounds(rounds))
        return rounds * THREADS


class PortAsync(AsyncMode):
    name = "port-async64"

    async def open(self, url: str) -> None:
        self.a = PortAdapter(url=url)
        await self.a.connect()

    async def cycle(self, tid: str, key: str) -> None:
        lock = await self.a.acquire_lock(tid, TTL_MS)
        if lock is None or lock.thread_id != tid:
            fail(f"{self.name}: acquire_lock({tid!r}) returned {lock!r}")
        await self.a.release_lock(lock)

    def close(self) -> None:
        self.loop.run_until_complete(self.a.disconnect())


class XrAsync(PortAsync):
    name = "xr-async64"

    async def open(self, url: str) -> None:
        self.a = xr_chat.RedisStateAdapter(url=url)
        await self.a.connect()


class RedisPyAsync(AsyncMode):
    name = "redispy-async64"

    async def open(self, url: str) -> None:
        self.r = redis.asyncio.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                              socket_timeout=COMMAND_TIMEOUT_S)
        self.release = self.r.register_script(PORT_RELEASE_SCRIPT)
        await self.r.script_load(PORT_RELEASE_SCRIPT)

    async def cycle(self, tid: str, key: str) -> None:
        token = f"redis_{int(time.time() * 1000)}_{secrets.token_hex(16)}"
        if await self.r.set(key, token, px=TTL_MS, nx=True) is not True:
            fail(f"{self.name}: SET NX of {key} did not acquire")
        if await self.release(keys=[key], args=[token]) != 1:
            fail(f"{self.name}: the release script did not delete {key}")

    def close(self) -> None:
        self.loop.run_until_complete(self.r.aclose())


OPENERS: dict[str, Callable[[str, asyncio.AbstractEventLoop], Any]] = {
    "redispy-seq": RedisPySeq, "xr-seq": XrSeq,
    "port-async64": PortAsync, "xr-async64": XrAsync, "redispy-async64": RedisPyAsync,
}


class Checker:
    """A separate connection that clears the bench keys and checks that none is left after a run."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)

    def clear(self) -> None:
        self.r.delete(*KEYS)

    def check(self, mode: str) -> None:
        left = self.r.exists(*KEYS)
        if left:
            fail(f"{mode}: {left} lock keys remain after the run (a release did not delete)")


def timed(mode: Any, n: int) -> float:
    t0 = time.perf_counter()
    done = mode.run(n)
    return done / (time.perf_counter() - t0)


# ---- suite --------------------------------------------------------------------------------------


def versions(url: str) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    info = redis.Redis.from_url(url).info("server")
    return {"python": platform.python_version(), "redis_server": str(info.get("redis_version")),
            "redis_py": redis.__version__, "hiredis_py": dist("hiredis"), "chat_sdk": dist("chat-sdk"),
            "crossredis": dist("crossredis") if xr_chat is not None else "crossredis.chat not available"}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def suite(args: argparse.Namespace, url: str) -> int:
    modes = [m for m in MODES if xr_chat is not None or m not in XR_MODES]
    if xr_chat is None:
        print("lock_cycle.py: crossredis.chat is not available; running the redis-py and port modes only",
              file=sys.stderr)
    size = {m: (args.seq if m in SEQ_MODES else args.rounds) for m in modes}
    loop = asyncio.new_event_loop()
    checker = Checker(url)
    checker.clear()
    opened = {m: OPENERS[m](url, loop) for m in modes}
    for m in modes:  # warm-up: one run's worth each (connections, script cache, pools)
        opened[m].run(size[m])
        checker.check(m)

    # Interleaved, the order flipping each repeat; a target's two modes always run back to back.
    seq = [m for m in SEQ_MODES if m in modes]
    asy = [m for m in ASYNC_MODES if m in modes]
    runs: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.repeats):
        order = (seq + asy) if r % 2 == 0 else (seq[::-1] + asy[::-1])
        for m in order:
            runs[m].append(timed(opened[m], size[m]))
            checker.check(m)

    profiles: dict[str, str] = {}
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        for m in modes:
            prof = cProfile.Profile()
            prof.enable()
            opened[m].run(size[m] * 2)
            prof.disable()
            checker.check(m)
            out = io.StringIO()
            cycles = size[m] * 2 * (1 if m in SEQ_MODES else THREADS)
            out.write(f"# cProfile of '{m}', {cycles} cycles (after the suite's runs); tottime, then cumtime\n")
            st = pstats.Stats(prof, stream=out)
            st.sort_stats("tottime").print_stats(25)
            st.sort_stats("cumulative").print_stats(25)
            path = os.path.join(args.profile, f"profile-py-{m}.txt")
            with open(path, "w") as f:
                f.write(out.getvalue())
            profiles[m] = path

    for m in modes:
        opened[m].close()
    loop.close()

    # ---- report
    cycles_per_run = {m: size[m] * (1 if m in SEQ_MODES else THREADS) for m in modes}
    med = {m: median(runs[m]) for m in modes}
    ratios: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    for mode, base, minimum in TARGETS:
        key = f"{mode}/{base}"
        if mode in runs and base in runs:
            paired = median([a / b for a, b in zip(runs[mode], runs[base])])
            of_medians = med[mode] / med[base]
            ratios[key] = {"paired": round(paired, 3), "of_medians": round(of_medians, 3)}
            targets.append({"mode": mode, "baseline": base, "min": minimum, "ratio": round(paired, 3),
                            "result": "PASS" if paired >= minimum else "MISS"})
        else:
            ratios[key] = None
            targets.append({"mode": mode, "baseline": base, "min": minimum, "ratio": None, "result": "n/a"})
    if "xr-async64" in runs and "redispy-async64" in runs:
        ratios["xr-async64/redispy-async64"] = {
            "paired": round(median([a / b for a, b in zip(runs["xr-async64"], runs["redispy-async64"])]), 3),
            "of_medians": round(med["xr-async64"] / med["redispy-async64"], 3)}

    ratio_col = {t["mode"]: t for t in targets}
    print(f"\n{'mode':<16} {'cycles/s':>9} {'min':>9} {'max':>9}  {'ratio':<28} {'target':<8} result")
    for m in MODES:
        if m not in runs:
            print(f"{m:<16} {'n/a':>9}")
            continue
        t = ratio_col.get(m)
        ratio = f"{t['ratio']:.3f} vs {t['baseline']}" if t and t["ratio"] is not None else ""
        target = f">= {t['min']}" if t else ""
        result = t["result"] if t else ""
        print(f"{m:<16} {med[m]:>9.0f} {min(runs[m]):>9.0f} {max(runs[m]):>9.0f}  {ratio:<28} {target:<8} {result}")
    if "xr-async64/redispy-async64" in ratios:
        print(f"context: xr-async64/redispy-async64 {ratios['xr-async64/redispy-async64']['paired']:.3f}")
    for t in targets:
        if t["ratio"] is None:
            print(f"target {t['mode']} >= {t['min']}x {t['baseline']}: n/a (crossredis.chat not available)")
    v = versions(url)
    print(f"\ncycles/s: lock cycles (acquire + release) per second, median of {args.repeats} interleaved repeats; "
          f"ratio: median of the {args.repeats} paired ratios (runs back to back)")
    print(", ".join(f"{k} {x}" for k, x in v.items()))

    if args.json:
        doc = {
            **results_head("python_lock_cycle", args),
            "versions": v,
            "hiredis_parser_in_redis_py": redis.utils.HIREDIS_AVAILABLE,
            "repeats": args.repeats,
            "concurrency": THREADS,
            "unit": "lock cycles (acquire + release) per second",
            "modes": {m: ({"cycles_per_run": cycles_per_run[m], "median": round(med[m]), "min": round(min(runs[m])),
                           "max": round(max(runs[m])), "runs": [round(x) for x in runs[m]]} if m in runs else None)
                      for m in MODES},
            "ratios": {"method": "median over the repeats of mode/baseline, the two runs of a repeat back to back",
                       **ratios},
            "targets": targets,
        }
        if profiles:
            doc["profiles"] = profiles
        write_json(args.json, doc)
    return 0


def load_average() -> str:
    """The 1, 5 and 15 min load averages (the machine is shared)."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def results_head(benchmark: str, args: argparse.Namespace, load_average: str | None = None) -> dict[str, Any]:
    """The first members of a results file: what ran, when, where, on which commit."""
    doc: dict[str, Any] = {"benchmark": benchmark, "command": args.command,
                           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "machine": args.machine}
    if load_average is not None:
        doc["load_average"] = load_average
    doc["crossredis_commit"] = args.commit
    return doc


def write_json(path: str, doc: dict[str, Any]) -> None:
    """The results, indented, with each mode's runs on one line (as bench/run writes them)."""
    text = json.dumps(doc, indent=2)
    text = re.sub(r"\[\s*(\d[\d\s,]*?)\s*\]", lambda m: "[" + "".join(m.group(1).split()) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def one_mode(args: argparse.Namespace, url: str, openers: dict[str, Callable[[str, asyncio.AbstractEventLoop], Any]] | None = None,
             seq_modes: list[str] | None = None, checker_class: Any = None) -> int:
    """One mode after a warm-up (the cluster benchmark passes its own modes and checker)."""
    openers, seq_modes, checker_class = openers or OPENERS, seq_modes or SEQ_MODES, checker_class or Checker
    if args.mode in XR_MODES and xr_chat is None:
        sys.exit("lock_cycle.py: crossredis.chat is not available")
    loop = asyncio.new_event_loop()
    checker = checker_class(url)
    checker.clear()
    mode = openers[args.mode](url, loop)
    n = args.n if args.mode in seq_modes else max(1, args.n // THREADS)
    mode.run(min(n, 100))
    rate = timed(mode, n)
    checker.check(args.mode)
    mode.close()
    loop.close()
    print(f"{args.mode} {n * (1 if args.mode in seq_modes else THREADS)} cycles {rate:.0f} cycles/s")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["suite", *MODES])
    p.add_argument("--url", help="a redis-server of yours (only chat-sdk:lock:bench:0..63 is touched)")
    p.add_argument("-n", type=int, default=10000, help="cycles, one mode (default 10000)")
    p.add_argument("--seq", type=int, default=2000, help="cycles per sequential run (default 2000)")
    p.add_argument("--rounds", type=int, default=32, help="rounds of 64 per asyncio run (default 32)")
    p.add_argument("-r", "--repeats", type=int, default=31, help="interleaved repeats (default 31)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--profile", metavar="DIR", help="also cProfile each mode into DIR/profile-py-<mode>.txt")
    p.add_argument("--command", default="bench/python/run", help=argparse.SUPPRESS)
    p.add_argument("--machine", default="", help=argparse.SUPPRESS)
    p.add_argument("--commit", default="", help=argparse.SUPPRESS)
    args = p.parse_args()

    server = None if args.url else Server()
    url = args.url or server.url
    try:
        return suite(args, url) if args.mode == "suite" else one_mode(args, url)
    except CycleFailed as e:
        print(f"lock_cycle.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    sys.exit(main())
