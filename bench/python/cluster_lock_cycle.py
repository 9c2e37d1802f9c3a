"""The Chat SDK lock cycle from Python on a Redis Cluster (bench/README.md, "cluster"): crossredis
against the Python cluster clients sending the same commands, in the same run, on one cluster.

One cycle is acquire + release of the lock on thread `bench:<k>`: `SET chat-sdk:lock:bench:<k>
<token> PX 30000 NX`, then the compare-and-delete script by EVALSHA. The 64 keys spread over the
masters by their slots; sequential cycle i uses key i % 64, so consecutive cycles go to different
masters; a concurrent round runs 64 cycles, one per key.

Modes (peers: the clients a Python program on a Cluster would use for these two commands):
  redispy-seq      redis.cluster.RedisCluster (hiredis parser): token as the Python port makes it,
                   set(key, token, px=30000, nx=True), the release script through register_script
                   (EVALSHA, loaded before timing)
  glide-seq        valkey-glide GlideClusterClient (its asyncio API, each call awaited before the
                   next): set(..., conditional_set=ONLY_IF_DOES_NOT_EXIST, expiry=PX 30000),
                   invoke_script(Script) (EVALSHA, loads on NOSCRIPT)
  xr-seq           crossredis.chat.State(url="redis+cluster://...")
  redispy-async64  redis.asyncio.cluster.RedisCluster, asyncio.gather of 64 cycles per round
  glide-async64    GlideClusterClient, the same way
  xr-async64       crossredis.chat.RedisStateAdapter(url="redis+cluster://..."), the same way
  port-async64     the Python port's RedisStateAdapter on a redis.asyncio RedisCluster (context: what
                   a Chat SDK Python deployment on a Cluster runs; EVAL of the script text each time)

Every reply is checked: a SET must answer OK (True), a release 1; crossredis's and the port's
release_lock return None, so a release that did not delete shows as a failed acquire of the same
thread at most 64 cycles later; after every run a separate connection checks that none of the 64
keys is left. A failed check ends the program with status 1.

Targets: crossredis at least 1.0x the fastest peer of its kind (sequential: redispy-seq or
glide-seq, whichever has the higher median; concurrent: redispy-async64 or glide-async64), as the
median of the paired ratios of runs made back to back.

Usage:
  cluster_lock_cycle.py suite --url redis+cluster://host:port,... [--seq N] [--rounds N] [-r REPEATS]
                        [--json FILE]
  cluster_lock_cycle.py MODE --url redis+cluster://host:port,... [-n CYCLES]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from importlib import metadata
from typing import Any, Callable

import redis
import redis.asyncio.cluster
import redis.cluster
import redis.utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "interop", "drivers"))
import lock_cycle  # noqa: E402
from cluster_url import parse_cluster_url  # noqa: E402  (interop/drivers/cluster_url.py)
from lock_cycle import (COMMAND_TIMEOUT_S, CONNECT_TIMEOUT_S, KEYS, PORT_RELEASE_SCRIPT,  # noqa: E402
                        THREAD_IDS, THREADS, TTL_MS, AsyncMode, CycleFailed, PortAdapter, PortAsync, XrAsync, XrSeq,
                        fail, median, one_mode, port_token, write_json, xr_chat)

SEQ_MODES = ["redispy-seq", "glide-seq", "xr-seq"]
ASYNC_MODES = ["redispy-async64", "glide-async64", "xr-async64", "port-async64"]
MODES = SEQ_MODES + ASYNC_MODES
# (crossredis mode, its peers): the target is >= 1.0x the peer with the higher median.
TARGETS = [("xr-seq", ["redispy-seq", "glide-seq"]), ("xr-async64", ["redispy-async64", "glide-async64"])]
TARGET_MIN = 1.0


def seeds(url: str) -> list[tuple[str, int]]:
    parsed = parse_cluster_url(url)
    if parsed is None:
        sys.exit(f"cluster_lock_cycle.py: --url must be redis+cluster://host:port,... (got {url})")
    if parsed[1] or parsed[2]:
        sys.exit("cluster_lock_cycle.py: --url: no user or password (the benchmark's cluster has none)")
    return parsed[0]


# ---- the peers ----------------------------------------------------------------------------------


class RedisPySeq(lock_cycle.RedisPySeq):
    """lock_cycle.py's redis-py cycle (the port's token made inline, SET NX PX, the script by
    EVALSHA) on a RedisCluster: each key to its slot's master."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        if not redis.utils.HIREDIS_AVAILABLE:
            sys.exit("cluster_lock_cycle.py: redis-py does not see hiredis (pip install 'redis[hiredis]')")
        self.r = redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in seeds(url)],
            socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S)
        self.release = self.r.register_script(PORT_RELEASE_SCRIPT)
        self.r.script_load(PORT_RELEASE_SCRIPT)  # on every primary


def glide_modules() -> Any:
    try:
        import glide
    except ImportError:
        sys.exit("cluster_lock_cycle.py: valkey-glide is not installed (bench/python/run installs "
                 "bench/python/requirements.txt)")
    return glide


async def open_glide(url: str) -> Any:
    g = glide_modules()
    config = g.GlideClusterClientConfiguration(addresses=[g.NodeAddress(h, p) for h, p in seeds(url)],
                                               request_timeout=int(COMMAND_TIMEOUT_S * 1000))
    return await g.GlideClusterClient.create(config)


class GlideCycle:
    """The cycle on a GlideClusterClient, shared by the sequential and the concurrent mode."""

    name = ""

    async def open(self, url: str) -> None:
        g = glide_modules()
        self.g = await open_glide(url)
        self.script = g.Script(PORT_RELEASE_SCRIPT)
        self.nx = g.ConditionalChange.ONLY_IF_DOES_NOT_EXIST
        self.px = g.ExpirySet(g.ExpiryType.MILLSEC, TTL_MS)

    async def cycle(self, tid: str, key: str) -> None:
        token = port_token()
        if await self.g.set(key, token, conditional_set=self.nx, expiry=self.px) != "OK":
            fail(f"{self.name}: SET NX of {key} did not acquire")
        if await self.g.invoke_script(self.script, keys=[key], args=[token]) != 1:
            fail(f"{self.name}: the release script did not delete {key}")


class GlideSeq(GlideCycle):
    name = "glide-seq"

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.run_until_complete(self.open(url))

    async def cycles(self, n: int) -> None:
        for i in range(n):
            await self.cycle(THREAD_IDS[i % THREADS], KEYS[i % THREADS])

    def run(self, cycles: int) -> int:
        self.loop.run_until_complete(self.cycles(cycles))
        return cycles

    def close(self) -> None:
        self.loop.run_until_complete(self.g.close())


class GlideAsync(GlideCycle, AsyncMode):
    name = "glide-async64"

    def close(self) -> None:
        self.loop.run_until_complete(self.g.close())


class RedisPyAsync(lock_cycle.RedisPyAsync):
    """lock_cycle.py's redis.asyncio cycle on a redis.asyncio RedisCluster."""

    async def open(self, url: str) -> None:
        self.r = redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in seeds(url)],
            socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S)
        self.release = self.r.register_script(PORT_RELEASE_SCRIPT)
        await self.r.script_load(PORT_RELEASE_SCRIPT)


class PortClusterAsync(PortAsync):
    """The port's adapter (its cycle as in lock_cycle.py) on a redis.asyncio RedisCluster client."""

    async def open(self, url: str) -> None:
        self.rc = redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in seeds(url)], decode_responses=True)
        self.a = PortAdapter(client=self.rc)
        await self.a.connect()

    def close(self) -> None:
        super().close()
        self.loop.run_until_complete(self.rc.aclose())


OPENERS: dict[str, Callable[[str, asyncio.AbstractEventLoop], Any]] = {
    "redispy-seq": RedisPySeq, "glide-seq": GlideSeq, "xr-seq": XrSeq,
    "redispy-async64": RedisPyAsync, "glide-async64": GlideAsync, "xr-async64": XrAsync,
    "port-async64": PortClusterAsync,
}


class Checker(lock_cycle.Checker):
    """lock_cycle.py's checker on a RedisCluster (DEL and EXISTS split by slot)."""

    def __init__(self, url: str) -> None:
        self.r = redis.cluster.RedisCluster(startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in seeds(url)])

    def spread(self) -> dict[str, int]:
        """How many of the 64 keys each master serves."""
        out: dict[str, int] = {}
        for k in KEYS:
            node = self.r.nodes_manager.get_node_from_slot(self.r.keyslot(k)).name
            out[node] = out.get(node, 0) + 1
        return out


# ---- suite --------------------------------------------------------------------------------------


def versions(checker: Checker) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    info = checker.r.info("server", target_nodes=redis.cluster.RedisCluster.RANDOM)
    return {"python": sys.version.split()[0], "redis_server": str(info.get("redis_version")),
            "redis_py": redis.__version__, "hiredis_py": dist("hiredis"), "valkey_glide": dist("valkey-glide"),
            "chat_sdk": dist("chat-sdk"), "crossredis": dist("crossredis")}


class Cpu:
    """This process's CPU time (user + system, every thread: glide's Rust threads too) per cycle, in
    microseconds, summed over the timed runs of each mode: unlike cycles/s it hardly moves with the
    machine's load."""

    def __init__(self) -> None:
        self.us: dict[str, float] = {}
        self.cycles: dict[str, int] = {}

    def timed(self, name: str, mode: Any, n: int) -> float:
        c0 = time.process_time()
        t0 = time.perf_counter()
        done = mode.run(n)
        rate = done / (time.perf_counter() - t0)
        self.us[name] = self.us.get(name, 0.0) + (time.process_time() - c0) * 1e6
        self.cycles[name] = self.cycles.get(name, 0) + done
        return rate

    def per_cycle(self, name: str) -> float:
        return round(self.us[name] / self.cycles[name], 1)


def suite(args: argparse.Namespace) -> int:
    if xr_chat is None:
        sys.exit("cluster_lock_cycle.py: crossredis.chat is not available (bench/python/run installs it)")
    modes = MODES
    size = {m: (args.seq if m in SEQ_MODES else args.rounds) for m in modes}
    loop = asyncio.new_event_loop()
    checker = Checker(args.url)
    checker.clear()
    load_before = lock_cycle.load_average()
    opened = {m: OPENERS[m](args.url, loop) for m in modes}
    for m in modes:  # warm-up: one run's worth each (connections, slot maps, script caches)
        opened[m].run(size[m])
        checker.check(m)
    runs: dict[str, list[float]] = {m: [] for m in modes}
    cpu = Cpu()
    for r in range(args.repeats):  # interleaved, the order flipping each repeat
        order = (SEQ_MODES + ASYNC_MODES) if r % 2 == 0 else (SEQ_MODES[::-1] + ASYNC_MODES[::-1])
        for m in order:
            runs[m].append(cpu.timed(m, opened[m], size[m]))
            checker.check(m)
    for m in modes:
        opened[m].close()
    loop.close()

    med = {m: median(runs[m]) for m in modes}
    targets = []
    for mode, peers in TARGETS:
        fastest = max(peers, key=lambda p: med[p])
        paired = {p: round(median([a / b for a, b in zip(runs[mode], runs[p])]), 3) for p in peers}
        targets.append({"mode": mode, "fastest_peer": fastest, "min": TARGET_MIN, "ratio": paired[fastest],
                        "ratios": paired, "result": "PASS" if paired[fastest] >= TARGET_MIN else "MISS"})
    context = round(median([a / b for a, b in zip(runs["xr-async64"], runs["port-async64"])]), 3)
    by_mode = {t["mode"]: t for t in targets}
    print(f"\n{'mode':<16} {'cycles/s':>9} {'min':>9} {'max':>9} {'CPU us':>7}  {'ratio (paired)':<34} result")
    for m in modes:
        t = by_mode.get(m)
        ratio = ", ".join(f"{v:.3f} vs {p}" for p, v in t["ratios"].items()) if t else ""
        if m == "port-async64":
            ratio = f"(xr-async64: {context:.3f}x this)"
        print(f"{m:<16} {med[m]:>9.0f} {min(runs[m]):>9.0f} {max(runs[m]):>9.0f} {cpu.per_cycle(m):>7.1f}  {ratio:<34} "
              f"{t['result'] + ' (>= 1.0x ' + t['fastest_peer'] + ')' if t else ''}")
    v = versions(checker)
    spread = checker.spread()
    load_after = lock_cycle.load_average()
    print(f"\ncycles/s: lock cycles (acquire + release) per second, median of {args.repeats} interleaved repeats; "
          f"CPU us: this process's CPU time (user + system, all threads) per cycle over the timed runs; "
          f"ratio: median of the {args.repeats} paired ratios (runs back to back)")
    print(f"the 64 keys per master: {', '.join(f'{n} {c}' for n, c in sorted(spread.items()))}")
    print(", ".join(f"{k} {x}" for k, x in v.items()) + f"; load average (1, 5, 15 min) before {load_before}, "
          f"after {load_after}")
    if args.json:
        doc = {
            **lock_cycle.results_head("cluster_python_lock_cycle", args, f"before {load_before}, after {load_after}"),
            "versions": v,
            "cluster": {"masters": len(spread), "keys_per_master": spread},
            "repeats": args.repeats,
            "concurrency": THREADS,
            "unit": "lock cycles (acquire + release) per second",
            "modes": {m: {"cycles_per_run": size[m] * (1 if m in SEQ_MODES else THREADS), "median": round(med[m]),
                          "min": round(min(runs[m])), "max": round(max(runs[m])), "cpu_us_per_cycle": cpu.per_cycle(m),
                          "runs": [round(x) for x in runs[m]]} for m in modes},
            "targets": targets,
            "context": {"xr-async64/port-async64": context},
        }
        write_json(args.json, doc)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["suite", *MODES])
    p.add_argument("--url", required=True, help="redis+cluster://host:port,... (only chat-sdk:lock:bench:0..63 is touched)")
    p.add_argument("-n", type=int, default=4000, help="cycles, one mode (default 4000)")
    p.add_argument("--seq", type=int, default=1000, help="cycles per sequential run (default 1000)")
    p.add_argument("--rounds", type=int, default=16, help="rounds of 64 per concurrent run (default 16)")
    p.add_argument("-r", "--repeats", type=int, default=21, help="interleaved repeats (default 21)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--command", default="bench/python/run --cluster", help=argparse.SUPPRESS)
    p.add_argument("--machine", default="", help=argparse.SUPPRESS)
    p.add_argument("--commit", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    seeds(args.url)
    try:
        return suite(args) if args.mode == "suite" else one_mode(args, args.url, OPENERS, SEQ_MODES, Checker)
    except CycleFailed as e:
        print(f"cluster_lock_cycle.py: FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
