"""The session-cycle suite (bench/README.md, "session_cycle"): toolhive's RedisStorage Store + Load
cycle from Go (the real toolhive v0.66.0 code over go-redis), C, Node and Python, in one run against
one throwaway redis-server on a free loopback port. bench/sessions/run builds what it needs and
calls this with the programs' paths.

Each runtime's program runs as a worker (one process per runtime, its clients opened once, kept for
the suite; the protocol: "ready {versions}", then per line "MODE N" one run answered "MODE CYCLES
SECONDS CPU_SECONDS"). One warm-up run per mode, then the repeats, the modes interleaved so that the
compared pairs (C and Go, Go and Node, redis-py and crossredis) always run back to back, the order
reversed every other repeat. Before every run the 64 keys are deleted; after it every key must hold
exactly the record toolhive writes (the same bytes from every runtime) with a TTL of about 2 h.

A ratio is the median over the repeats of the two runs' ratio (runs back to back); cycles/s the
median of the runs; CPU per cycle the worker process's CPU time (user + system, every thread) over
its cycles, median of the runs.

Usage: suite.py --go BIN --c BIN --node-script FILE --python-script FILE [--url URL] [-r REPEATS]
                [--seq N] [--c64 N] [--async64 N] [--only go,c,node,python] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import lock_cycle  # noqa: E402  (the throwaway server, the load average, the results file)
from session_cycle import IDS, KEYS, TTL_S, record  # noqa: E402  (the 64 sessions, their records)

# (label, runtime, the worker's mode, size option). Within each group the order of a repeat, so
# that each compared pair is adjacent (reversed every other repeat, still adjacent).
SEQ = [("c xr-seq", "c", "xr-seq", "seq"), ("go go-seq", "go", "go-seq", "seq"),
       ("node xr-seq", "node", "xr-seq", "seq"), ("node ioredis-seq", "node", "ioredis-seq", "seq"),
       ("python redispy-seq", "python", "redispy-seq", "seq"), ("python xr-seq", "python", "xr-seq", "seq")]
C64 = [("c xr-c64", "c", "xr-c64", "c64"), ("go go-c64", "go", "go-c64", "c64"),
       ("node xr-c64", "node", "xr-c64", "c64"), ("node ioredis-c64", "node", "ioredis-c64", "c64"),
       ("python redispy-async64", "python", "redispy-async64", "async64"),
       ("python xr-async64", "python", "xr-async64", "async64")]
MODES = SEQ + C64
# (name, mode, baseline, minimum ratio): the targets.
TARGETS = [("C/Go seq", "c xr-seq", "go go-seq", 1.0), ("C/Go c64", "c xr-c64", "go go-c64", 1.0),
           ("Node/Go seq", "node xr-seq", "go go-seq", 1.0), ("Node/Go c64", "node xr-c64", "go go-c64", 1.0),
           ("Python/redis-py seq", "python xr-seq", "python redispy-seq", 2.0),
           ("Python/redis-py async64", "python xr-async64", "python redispy-async64", 2.0)]
# For context, no target.
CONTEXT = [("Node/ioredis seq", "node xr-seq", "node ioredis-seq"),
           ("Node/ioredis c64", "node xr-c64", "node ioredis-c64"),
           ("ioredis/Go seq", "node ioredis-seq", "go go-seq"), ("ioredis/Go c64", "node ioredis-c64", "go go-c64"),
           ("Python xr/Go seq", "python xr-seq", "go go-seq"),
           ("Python xr-async64/Go c64", "python xr-async64", "go go-c64")]


class Failed(Exception):
    pass


class Worker:
    """One runtime's program in worker mode; its stderr kept in a file, shown when it fails."""

    def __init__(self, runtime: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.runtime = runtime
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     env=env)
        line = self._line()
        if not line.startswith("ready"):
            self._failed(f"did not start (said {line!r})")
        self.versions: dict[str, str] = json.loads(line[5:].strip() or "{}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _failed(self, what: str) -> None:
        self.proc.kill()
        self.proc.wait()
        self.err.seek(0)
        tail = "".join(self.err.readlines()[-20:])
        raise Failed(f"the {self.runtime} worker {what}; its stderr:\n{tail}")

    def run(self, mode: str, n: int) -> tuple[int, float, float]:
        """One run: cycles done, seconds, CPU seconds."""
        f = self.fields(mode, n, 4)
        return int(f[1]), float(f[2]), float(f[3])

    def fields(self, mode: str, n: int, count: int) -> list[str]:
        """One run: the answer's `count` fields, the mode first."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{mode} {n}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._failed("has gone")
        f = self._line().split()
        if len(f) != count or f[0] != mode:
            self._failed(f"failed in {mode} (status {self.proc.poll()})")
        return f

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Checker:
    """A separate connection: clears the 64 keys before a run and checks them after it."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)
        self.want = [record(i).encode() for i in IDS]

    def clear(self) -> None:
        self.r.delete(*KEYS)

    def check(self, label: str) -> None:
        got = self.r.mget(KEYS)
        for key, g, w in zip(KEYS, got, self.want):
            if g != w:
                raise Failed(f"{label}: {key} holds {g!r}, not toolhive's record {w!r}")
        ttl = self.r.ttl(KEYS[0])
        if not TTL_S - 60 <= ttl <= TTL_S:
            raise Failed(f"{label}: {KEYS[0]} has TTL {ttl} s, not about {TTL_S}")


def paired(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--go", required=True, help="the Go worker (toolhive-v0.66.0-bench)")
    p.add_argument("--c", required=True, help="build-bench/bench/session_cycle")
    p.add_argument("--node-script", required=True, help="bench/node/session_cycle.mjs")
    p.add_argument("--python-script", required=True, help="bench/python/session_cycle.py")
    p.add_argument("--node", default=os.environ.get("NODE", "node"))
    p.add_argument("--url", help="a redis-server of yours (touches the 64 bench sessions' keys only)")
    p.add_argument("-r", "--repeats", type=int, default=31)
    p.add_argument("--seq", type=int, default=1000, help="cycles per sequential run (default 1000)")
    p.add_argument("--c64", type=int, default=6400, help="cycles per 64-concurrent run of Go, C, Node (default 6400)")
    p.add_argument("--async64", type=int, default=3200, help="cycles per asyncio run of Python (default 3200)")
    p.add_argument("--only", default="go,c,node,python", help="the runtimes to run (default all four)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--command", default="bench/sessions/run")
    p.add_argument("--machine", default="")
    p.add_argument("--commit", default="")
    args = p.parse_args()
    only = set(args.only.split(","))
    if not only or only - {"go", "c", "node", "python"}:
        p.error(f"--only: a comma-separated subset of go,c,node,python, got {args.only!r}")

    server = None if args.url else lock_cycle.Server()
    url = args.url or server.url
    workers: dict[str, Worker] = {}
    try:
        print(f"server: {url}", file=sys.stderr)
        argv = {"go": [args.go, "--url", url, "worker"], "c": [args.c, "worker", "--url", url],
                "node": [args.node, args.node_script, "worker", "--url", url],
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
    size = {"seq": args.seq, "c64": args.c64, "async64": args.async64}
    seq, c64 = ([m for m in group if m[1] in workers] for group in (SEQ, C64))
    modes = seq + c64
    checker = Checker(url)
    runs: dict[str, list[float]] = {m[0]: [] for m in modes}
    cpu: dict[str, list[float]] = {m[0]: [] for m in modes}
    cycles: dict[str, int] = {}

    def one(m: tuple[str, str, str, str], keep: bool) -> None:
        label, runtime, mode, kind = m
        checker.clear()
        done, seconds, cpu_s = workers[runtime].run(mode, size[kind])
        checker.check(label)
        cycles[label] = done
        if keep:
            runs[label].append(done / seconds)
            cpu[label].append(cpu_s / done * 1e6)

    load_before = lock_cycle.load_average()
    for m in modes:  # warm-up: one run's worth each
        one(m, False)
    print(f"wall clock: {args.repeats} repeats of {len(modes)} modes", file=sys.stderr)
    for r in range(args.repeats):
        for group in (seq, c64):
            for m in (group if r % 2 == 0 else group[::-1]):
                one(m, True)
    load_after = lock_cycle.load_average()

    med = {k: statistics.median(v) for k, v in runs.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    targets = []
    for name, mode, base, minimum in TARGETS:
        if mode not in runs or base not in runs:
            continue
        ratio = paired(runs[mode], runs[base])
        targets.append({"name": name, "mode": mode, "baseline": base, "min": minimum, "ratio": round(ratio, 3),
                        "of_medians": round(med[mode] / med[base], 3), "result": "PASS" if ratio >= minimum else "MISS"})
    context = [{"name": name, "mode": mode, "baseline": base, "ratio": round(paired(runs[mode], runs[base]), 3)}
               for name, mode, base in CONTEXT if mode in runs and base in runs]

    print(f"\n{'mode':<24} {'cycles/run':>10} {'cycles/s':>9} {'min':>9} {'max':>9} {'CPU us/cycle':>13}")
    for label, *_ in modes:
        print(f"{label:<24} {cycles[label]:>10} {med[label]:>9.0f} {min(runs[label]):>9.0f} {max(runs[label]):>9.0f} "
              f"{cpu_med[label]:>13.1f}")
    print(f"\n{'target':<26} {'ratio':>6}  {'of medians':>10}  {'min':>4}  result")
    for t in targets:
        print(f"{t['name']:<26} {t['ratio']:>6.3f}  {t['of_medians']:>10.3f}  {t['min']:>4.1f}  {t['result']}")
    print("context: " + ", ".join(f"{c['name']} {c['ratio']:.3f}" for c in context))
    versions = {rt: w.versions for rt, w in workers.items()}
    versions["redis_server"] = str(redis.Redis.from_url(url).info("server").get("redis_version"))
    load = f"before {load_before}, after {load_after}"
    print(f"\ncycles/s: Store + Load cycles per second, median of {args.repeats} interleaved repeats; ratio: median of "
          f"the {args.repeats} paired ratios (runs back to back); load average (1, 5, 15 min) {load}")
    print("; ".join(f"{rt}: " + ", ".join(f"{k} {v}" for k, v in vs.items()) if isinstance(vs, dict) else f"{rt} {vs}"
                    for rt, vs in versions.items()))

    if args.json:
        doc = {
            **lock_cycle.results_head("session_cycle", args, load),
            "versions": versions,
            "repeats": args.repeats,
            "unit": "Store + Load cycles per second; cpu_us_per_cycle: the worker process's user + system time",
            "modes": {label: {"runtime": rt, "worker_mode": mode, "cycles_per_run": cycles[label],
                              "median": round(med[label]), "min": round(min(runs[label])),
                              "max": round(max(runs[label])), "cpu_us_per_cycle": round(cpu_med[label], 1),
                              "runs": [round(x) for x in runs[label]]}
                      for label, rt, mode, _ in modes},
            "ratios": {"method": "median over the repeats of mode/baseline, the two runs of a repeat back to back"},
            "targets": targets,
            "context": context,
        }
        lock_cycle.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
