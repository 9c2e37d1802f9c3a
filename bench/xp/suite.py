"""The xp suite (bench/README.md, "xp"; issue 15): xml-pipeline's context buffer (append then get
the whole thread) and thread registry (set, then the uuid of the chain and the chain of the uuid)
from Python, ``crossredis.xp.RedisBackend`` against the upstream-shaped redis-py backend
(interop/drivers/xp_upstream.py), sequential and with 8 threads sharing one backend, in one run
against one throwaway redis-server on a free loopback port. bench/xp/run calls this.

The program runs as a worker (bench/python/xp_bench.py: both backends opened once and kept; the
protocol: "ready {versions}", then per line "MODE N" one run answered "MODE COUNT SECONDS
CPU_SECONDS"). One warm-up run per mode, then the repeats: for each kind of run the two sides back
to back, the order reversed every other repeat. Before every run the side's keys are deleted; after
it every buffer thread must hold exactly the slots appended, every registry pair must map both ways,
each key with a TTL, and no other key of the side's prefix may exist.

A ratio is the median over the repeats of the two runs' ratio of cycles per second (runs back to
back). Rates are medians of the runs; CPU per cycle the worker process's CPU time (user + system,
every thread) over its cycles, median of the runs.

Usage: suite.py --python-script FILE [--url URL] [-r REPEATS] [--scale X] [--json FILE]
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
from xp_bench import PREFIX, THREADS, TTL_S, WORKERS, clear, pairs, thread_id, thread_slots  # noqa: E402
from suite import Failed, Worker, paired  # noqa: E402  (bench/sessions/suite.py, first on the path: the workers)

# (kind, crossredis's mode, the baseline's mode, cycles per run, the target), run in this order
KINDS = [("append-get", "xr-append-get", "upstream-append-get", 1024, 2.0),
         ("append-get-t8", "xr-append-get-t8", "upstream-append-get-t8", 1024, 2.0),
         ("registry", "xr-registry", "upstream-registry", 1024, 2.0),
         ("registry-t8", "xr-registry-t8", "upstream-registry-t8", 1024, 2.0)]
BASELINE = "upstream-shaped redis-py backend (interop/drivers/xp_upstream.py)"
UNIT = THREADS * WORKERS  # a run's cycles: a multiple of this


class Checker:
    """A separate connection: clears a side's keys before a run and checks them after it."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)

    def clear(self, impl: str) -> None:
        clear(self.r, impl)

    def ttl(self, label: str, key: str) -> None:
        ttl = self.r.ttl(key)
        if not TTL_S - 60 <= ttl <= TTL_S:
            raise Failed(f"{label}: {key} has TTL {ttl} s, not about {TTL_S}")

    def check(self, label: str, impl: str, kind: str, n: int) -> None:
        pre = PREFIX[impl]
        if kind.startswith("append-get"):
            want_keys = THREADS
            pipe = self.r.pipeline(transaction=False)
            for t in range(THREADS):
                pipe.lrange(f"{pre}buffer:{thread_id(t)}", 0, -1)
            for t, got in enumerate(pipe.execute()):
                if got != thread_slots(t, n):
                    raise Failed(f"{label}: {pre}buffer:{thread_id(t)} holds {len(got)} slots, not the "
                                 f"{n // THREADS} appended")
            for t in (0, THREADS - 1):
                self.ttl(label, f"{pre}buffer:{thread_id(t)}")
        else:
            ps = pairs(n)
            want_keys = 2 * len(ps)
            uuids = self.r.mget([f"{pre}chain:{c}" for c, _ in ps])
            chains = self.r.mget([f"{pre}uuid:{u}" for _, u in ps])
            for (c, u), gu, gc in zip(ps, uuids, chains):
                if gu != u.encode() or gc != c.encode():
                    raise Failed(f"{label}: {c} -> {gu!r}, {u} -> {gc!r}: not the pair set")
            self.ttl(label, f"{pre}chain:{ps[0][0]}")
            self.ttl(label, f"{pre}uuid:{ps[-1][1]}")
        keys = sum(1 for _ in self.r.scan_iter(match=pre + "*", count=1000))
        if keys != want_keys:
            raise Failed(f"{label}: {keys} keys under {pre}, want {want_keys}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python-script", required=True, help="bench/python/xp_bench.py")
    p.add_argument("--url", help="a redis-server of yours (touches bench:xp:* keys only)")
    p.add_argument("-r", "--repeats", type=int, default=21)
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every run's cycles (default 1)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--command", default="bench/xp/run")
    p.add_argument("--machine", default="")
    p.add_argument("--commit", default="")
    args = p.parse_args()

    server = None if args.url else lock_cycle.Server()
    url = args.url or server.url
    worker = None
    try:
        print(f"server: {url}", file=sys.stderr)
        worker = Worker("python", [sys.executable, args.python_script, "worker", "--url", url])
        return suite(args, url, worker)
    except Failed as e:
        print(f"suite.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if worker is not None:
            worker.close()
        if server is not None:
            server.close()


def suite(args: argparse.Namespace, url: str, worker: Worker) -> int:
    checker = Checker(url)
    rate: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def one(kind: str, mode: str, n: int, keep: bool) -> None:
        impl = mode.split("-", 1)[0]
        checker.clear(impl)
        done, seconds, cpu_s = worker.run(mode, n)
        checker.check(mode, impl, kind, n)
        if done != n:
            raise Failed(f"{mode}: {done} cycles, not {n}")
        if keep:
            rate.setdefault(mode, []).append(done / seconds)
            cpu.setdefault(mode, []).append(cpu_s / done * 1e6)

    def size(n: int) -> int:
        return max(UNIT, round(n * args.scale / UNIT) * UNIT)

    load_before = lock_cycle.load_average()
    for kind, xr, base, n, _ in KINDS:  # warm-up: one run's worth each
        one(kind, xr, size(n), False)
        one(kind, base, size(n), False)
    print(f"wall clock: {args.repeats} repeats of {2 * len(KINDS)} modes", file=sys.stderr)
    for r in range(args.repeats):
        for kind, xr, base, n, _ in (KINDS if r % 2 == 0 else KINDS[::-1]):
            for mode in ((xr, base) if r % 2 == 0 else (base, xr)):
                one(kind, mode, size(n), True)
    load_after = lock_cycle.load_average()
    for impl in PREFIX:
        checker.clear(impl)

    med = {k: statistics.median(v) for k, v in rate.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    targets = []
    for kind, xr, base, n, minimum in KINDS:
        ratio = paired(rate[xr], rate[base])
        targets.append({"kind": kind, "mode": xr, "baseline": base, "min": minimum,
                        "metric": "rate (crossredis / baseline)", "ratio": round(ratio, 3),
                        "of_medians": round(med[xr] / med[base], 3),
                        "cpu_ratio": round(cpu_med[base] / cpu_med[xr], 3),
                        "result": "PASS" if ratio >= minimum else "MISS"})

    print(f"\n{'mode':<26} {'cycles/run':>10} {'per s':>9} {'min':>9} {'max':>9} {'CPU us':>7}")
    for kind, xr, base, n, _ in KINDS:
        for mode in (base, xr):
            print(f"{mode:<26} {size(n):>10} {med[mode]:>9.0f} {min(rate[mode]):>9.0f} {max(rate[mode]):>9.0f} "
                  f"{cpu_med[mode]:>7.1f}")
    print(f"\n{'target':<16} {'ratio':>6}  {'of medians':>10}  {'CPU ratio':>9}  {'min':>4}  result")
    for t in targets:
        print(f"{t['kind']:<16} {t['ratio']:>6.3f}  {t['of_medians']:>10.3f}  {t['cpu_ratio']:>9.3f}  "
              f"{t['min']:>4.1f}  {t['result']}")
    versions = dict(worker.versions)
    versions["redis_server"] = str(redis.Redis.from_url(url).info("server").get("redis_version"))
    load = f"before {load_before}, after {load_after}"
    print(f"\nper s: cycles per second (append + get_thread, or registry_set + get_uuid + get_chain), median of "
          f"{args.repeats} interleaved repeats; ratio: median of the paired ratios; load average (1, 5, 15 min) "
          f"{load}")
    print(", ".join(f"{k} {v}" for k, v in versions.items()))

    if args.json:
        doc = {
            **lock_cycle.results_head("xp", args, load),
            "versions": versions,
            "baseline": BASELINE,
            "repeats": args.repeats,
            "unit": "cycles per second (append-get: buffer_append + buffer_get_thread; registry: registry_set + "
                    "registry_get_uuid + registry_get_chain); -t8: 8 threads sharing one backend; cpu_us: the "
                    "worker process's user + system time per cycle",
            "modes": {mode: {"cycles_per_run": size(n), "median": round(med[mode]), "min": round(min(rate[mode])),
                             "max": round(max(rate[mode])), "cpu_us": round(cpu_med[mode], 1),
                             "runs": [round(x) for x in rate[mode]]}
                      for kind, xr, base, n, _ in KINDS for mode in (xr, base)},
            "ratios": {"method": "median over the repeats of the paired ratio, the two runs back to back: "
                                 "crossredis rate / baseline rate"},
            "targets": targets,
        }
        lock_cycle.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
