"""The ayepi suite (bench/README.md, "ayepi"): the broker's publish-to-receive latency and
throughput (one subscriber, eight subscribers) and the cache's set/get cycle, from Node (crossredis's
redisBroker / redisCache against @ayepi/redis's factories over ioredis) and from Python
(crossredis.ayepi, sync and asyncio, against the same over redis-py), in one run against one
throwaway redis-server on a free loopback port. bench/ayepi/run calls this.

Each runtime's program runs as a worker (one process per runtime, everything opened once and kept;
the protocol: "ready {versions}", then per line "MODE N" one run answered "MODE COUNT SECONDS
CPU_SECONDS P50_US P99_US"). One warm-up run per mode, then the repeats: for each kind of run the
two sides back to back, the order reversed every other repeat. Before every cache run the 64 keys
are deleted; after it every key must hold exactly the entry JSON.stringify writes (the same bytes
from every side) with a TTL.

A ratio is the median over the repeats of the two runs' ratio (runs back to back): messages or
cycles per second, and for the latency modes the baseline's p50 over crossredis's p50 (higher is
better for crossredis everywhere). Rates and latencies are medians of the runs; CPU per message or
cycle the worker process's CPU time (user + system, every thread) over its count, median of the runs
(for the tput8 modes, per message published: 8 arrivals).

Usage: suite.py --node-script FILE --python-script FILE [--url URL] [-r REPEATS] [--scale X]
                [--only node,python] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "sessions"))
import lock_cycle  # noqa: E402  (the throwaway server, the load average, the results file)
from ayepi_bench import ENTRY_JSON, KEYS  # noqa: E402  (the 64 cache entries)
from suite import Failed, Worker, paired  # noqa: E402  (bench/sessions/suite.py, first on the path: the workers)

# (kind, crossredis's mode, the baseline's mode, count per run, the target). The kinds of a
# runtime run in this order; within a kind the two modes back to back.
NODE = [("latency", "xr-latency", "ioredis-latency", 1000, 1.0),
        ("tput1", "xr-tput1", "ioredis-tput1", 20000, 1.0),
        ("tput8", "xr-tput8", "ioredis-tput8", 8000, 1.0),
        ("cache-seq", "xr-cache-seq", "ioredis-cache-seq", 1000, 1.0),
        ("cache-c64", "xr-cache-c64", "ioredis-cache-c64", 6400, 1.0)]
PYTHON = [("latency", "xr-latency", "redispy-latency", 1000, 2.0),
          ("tput1", "xr-tput1", "redispy-tput1", 3000, 2.0),
          ("tput8", "xr-tput8", "redispy-tput8", 1500, 2.0),
          ("cache-seq", "xr-cache-seq", "redispy-cache-seq", 1000, 2.0),
          ("async-latency", "xr-async-latency", "redispy-async-latency", 1000, 2.0),
          ("async-tput1", "xr-async-tput1", "redispy-async-tput1", 3200, 2.0),
          ("async-tput8", "xr-async-tput8", "redispy-async-tput8", 1600, 2.0),
          ("async-cache-c64", "xr-async-cache-c64", "redispy-async-cache-c64", 3200, 2.0)]
BASELINE = {"node": "ioredis (@ayepi/redis's factories)", "python": "redis-py"}


class Checker:
    """A separate connection: clears the 64 cache keys before a cache run and checks them after."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)
        self.want = [e.encode() for e in ENTRY_JSON]

    def clear(self) -> None:
        self.r.delete(*KEYS)

    def check(self, label: str) -> None:
        got = self.r.mget(KEYS)
        for key, g, w in zip(KEYS, got, self.want):
            if g != w:
                raise Failed(f"{label}: {key} holds {g!r}, not the entry {w!r}")
        if self.r.pttl(KEYS[0]) <= 0:
            raise Failed(f"{label}: {KEYS[0]} has no TTL")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--node-script", required=True, help="bench/node/ayepi_bench.mjs")
    p.add_argument("--python-script", required=True, help="bench/python/ayepi_bench.py")
    p.add_argument("--node", default=os.environ.get("NODE", "node"))
    p.add_argument("--url", help="a redis-server of yours (touches the 64 bench cache keys and bench:ayepi:* channels)")
    p.add_argument("-r", "--repeats", type=int, default=21)
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every run's count (default 1)")
    p.add_argument("--only", default="node,python", help="the runtimes to run (default both)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--command", default="bench/ayepi/run")
    p.add_argument("--machine", default="")
    p.add_argument("--commit", default="")
    args = p.parse_args()
    only = set(args.only.split(","))
    if not only or only - {"node", "python"}:
        p.error(f"--only: a comma-separated subset of node,python, got {args.only!r}")

    server = None if args.url else lock_cycle.Server()
    url = args.url or server.url
    workers: dict[str, Worker] = {}
    try:
        print(f"server: {url}", file=sys.stderr)
        argv = {"node": [args.node, args.node_script, "worker", "--url", url],
                "python": [sys.executable, args.python_script, "worker", "--url", url]}
        for runtime in sorted(only):
            workers[runtime] = Worker(runtime, argv[runtime])
        return suite(args, url, workers)
    except Failed as e:
        print(f"suite.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for w in workers.values():
            w.close()
        if server is not None:
            server.close()


def suite(args: argparse.Namespace, url: str, workers: dict[str, Worker]) -> int:
    groups = [(rt, row) for rt, rows in (("node", NODE), ("python", PYTHON)) if rt in workers for row in rows]
    checker = Checker(url)
    rate: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    p50: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    counts: dict[str, int] = {}

    def one(rt: str, mode: str, n: int, keep: bool) -> None:
        label = f"{rt} {mode}"
        cache = "cache" in mode
        if cache:
            checker.clear()
        f = workers[rt].fields(mode, n, 6)
        if cache:
            checker.check(label)
        done, seconds, cpu_s = int(f[1]), float(f[2]), float(f[3])
        counts[label] = done
        if keep:
            rate.setdefault(label, []).append(done / seconds)
            cpu.setdefault(label, []).append(cpu_s / done * 1e6)
            p50.setdefault(label, []).append(float(f[4]))
            p99.setdefault(label, []).append(float(f[5]))

    def size(n: int) -> int:
        return max(64, int(n * args.scale))

    load_before = lock_cycle.load_average()
    for rt, (kind, xr, base, n, _) in groups:  # warm-up: one run's worth each
        one(rt, xr, size(n), False)
        one(rt, base, size(n), False)
    print(f"wall clock: {args.repeats} repeats of {2 * len(groups)} modes", file=sys.stderr)
    for r in range(args.repeats):
        for rt, (kind, xr, base, n, _) in (groups if r % 2 == 0 else groups[::-1]):
            for mode in ((xr, base) if r % 2 == 0 else (base, xr)):
                one(rt, mode, size(n), True)
    load_after = lock_cycle.load_average()

    med = {k: statistics.median(v) for k, v in rate.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    p50_med = {k: statistics.median(v) for k, v in p50.items()}
    p99_med = {k: statistics.median(v) for k, v in p99.items()}
    targets = []
    for rt, (kind, xr, base, n, minimum) in groups:
        a, b = f"{rt} {xr}", f"{rt} {base}"
        lat = kind.endswith("latency")
        # latency: the baseline's p50 over crossredis's (higher: crossredis faster)
        ratio = paired(p50[b], p50[a]) if lat else paired(rate[a], rate[b])
        of_medians = p50_med[b] / p50_med[a] if lat else med[a] / med[b]
        targets.append({"runtime": rt, "kind": kind, "mode": a, "baseline": b, "min": minimum,
                        "metric": "p50 latency (baseline / crossredis)" if lat else "rate (crossredis / baseline)",
                        "ratio": round(ratio, 3), "of_medians": round(of_medians, 3),
                        "rate_ratio": round(paired(rate[a], rate[b]), 3),
                        "result": "PASS" if ratio >= minimum else "MISS"})

    print(f"\n{'mode':<32} {'count/run':>9} {'per s':>9} {'min':>9} {'max':>9} {'p50 us':>8} {'p99 us':>8} "
          f"{'CPU us':>7}")
    for rt, (kind, xr, base, n, _) in groups:
        for mode in (base, xr):
            label = f"{rt} {mode}"
            lat = f"{p50_med[label]:>8.1f} {p99_med[label]:>8.1f}" if kind.endswith("latency") else f"{'':>8} {'':>8}"
            print(f"{label:<32} {counts[label]:>9} {med[label]:>9.0f} {min(rate[label]):>9.0f} {max(rate[label]):>9.0f} "
                  f"{lat} {cpu_med[label]:>7.1f}")
    print(f"\n{'target':<28} {'ratio':>6}  {'of medians':>10}  {'rate ratio':>10}  {'min':>4}  result")
    for t in targets:
        name = f"{t['runtime']} {t['kind']} vs {t['baseline'].split()[1].split('-')[0]}"
        print(f"{name:<28} {t['ratio']:>6.3f}  {t['of_medians']:>10.3f}  {t['rate_ratio']:>10.3f}  {t['min']:>4.1f}  "
              f"{t['result']}")
    versions = {rt: w.versions for rt, w in workers.items()}
    versions["redis_server"] = str(redis.Redis.from_url(url).info("server").get("redis_version"))
    load = f"before {load_before}, after {load_after}"
    print(f"\nper s: messages (published, each heard by every subscriber) or set+get cycles per second, median "
          f"of {args.repeats} interleaved repeats; ratio: median of the paired ratios (latency: baseline p50 / "
          f"crossredis p50); load average (1, 5, 15 min) {load}")
    print("; ".join(f"{rt}: " + ", ".join(f"{k} {v}" for k, v in vs.items()) if isinstance(vs, dict) else f"{rt} {vs}"
                    for rt, vs in versions.items()))

    if args.json:
        doc = {
            **lock_cycle.results_head("ayepi", args, load),
            "versions": versions,
            "repeats": args.repeats,
            "unit": "messages or set+get cycles per second; p50/p99 in microseconds (latency modes: publish to "
                    "arrival); cpu_us: the worker process's user + system time per message or cycle",
            "modes": {label: {"count_per_run": counts[label], "median": round(med[label]),
                              "min": round(min(rate[label])), "max": round(max(rate[label])),
                              "p50_us": round(p50_med[label], 1), "p99_us": round(p99_med[label], 1),
                              "cpu_us": round(cpu_med[label], 1), "runs": [round(x) for x in rate[label]]}
                      for label in rate},
            "ratios": {"method": "median over the repeats of the paired ratio, the two runs back to back; latency: "
                                 "baseline p50 / crossredis p50, else crossredis rate / baseline rate"},
            "targets": targets,
        }
        lock_cycle.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
