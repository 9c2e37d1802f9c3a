#!/usr/bin/env python3
"""The interop suite: every Chat SDK state implementation writes, every other one reads, through one
shared Redis; then a migration from a TypeScript deployment to a Python one.

    .venv/bin/python interop/run.py [--url URL] [--json] [--only IMPL,...] [--crossredis PATH]

Without --url a throwaway redis-server is started on a free loopback port and stopped afterwards.
The drivers (interop/CONTRACT.md) are started once per implementation and told what to do; this
runner decides what is expected, checks the bytes in Redis itself (redis-py) and prints a matrix
per scenario (producer rows, consumer columns). Exit status: 0 when every result is the expected
one (known upstream incompatibilities included), 1 otherwise, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import redis

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "interop" / "drivers"
CALL_TIMEOUT_S = 20.0


# ---- implementations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Impl:
    name: str
    runtime: str          # "c", "python", "typescript"
    json: str             # what its values look like: "js" (JSON.stringify) or "python" (json.dumps)
    entries: str          # queue entries it writes: "ts", "python" or "both"
    reader: str           # whose queue reader it is: "ts-core", "py-port", "crossredis"
    origin: str           # what crossredis locks reports for its tokens
    token_prefix: str     # its tokens start with this + "_"


IMPLS = [
    Impl("c", "c", "js", "ts", "crossredis", "crossredis", "redis"),
    Impl("py-crossredis", "python", "python", "python", "crossredis", "crossredis", "redis"),
    Impl("py-crossredis-both", "python", "python", "both", "crossredis", "crossredis", "ioredis"),
    Impl("py-port", "python", "python", "python", "py-port", "python-redis", "redis"),
    Impl("ts-node-redis", "typescript", "js", "ts", "ts-core", "ts-node-redis", "redis"),
    Impl("ts-ioredis", "typescript", "js", "ts", "ts-core", "ts-ioredis", "ioredis"),
    Impl("ts-crossredis", "typescript", "js", "ts", "ts-core-crossredis", "crossredis", "ioredis"),
]
BY_NAME = {i.name: i for i in IMPLS}


def driver_command(impl: Impl, crossredis: Path, python: str) -> list[str]:
    if impl.runtime == "c":
        return [str(crossredis), "driver"]
    if impl.runtime == "python":
        return [python, str(DRIVERS / "py_driver.py")]
    return [shutil.which("node") or "node", str(DRIVERS / "ts_driver.mjs")]


class DriverError(Exception):
    pass


class Driver:
    """One driver process speaking JSON lines (interop/CONTRACT.md)."""

    def __init__(self, impl: Impl, cmd: list[str], url: str, prefix: str, log: Path) -> None:
        self.impl = impl
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(cmd + ["--impl", impl.name, "--url", url, "--prefix", prefix],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.next_id = 0
        self.buf = b""
        ready = self._line(60.0)
        if not ready.get("ready"):
            raise DriverError(f"{impl.name}: not ready: {ready.get('error', ready)}")
        self.library = ready.get("library", "?")

    def _line(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverError(f"{self.impl.name}: no answer within {timeout:.0f} s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise DriverError(f"{self.impl.name}: the driver exited ({self.proc.poll()}); see its log")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError as e:
            raise DriverError(f"{self.impl.name}: not a protocol line: {line[:200]!r} ({e})") from None

    def call(self, op: str, scenario: str = "", role: str = "", **args: Any) -> tuple[bool, Any]:
        """(True, result) or (False, {"kind", "message"})."""
        assert self.proc.stdin is not None
        self.next_id += 1
        req = {"id": self.next_id, "scenario": scenario, "role": role, "op": op, "args": args}
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        resp = self._line(CALL_TIMEOUT_S)
        if resp.get("id") != self.next_id:
            raise DriverError(f"{self.impl.name}: answer {resp.get('id')} to request {self.next_id}")
        return (True, resp.get("result")) if resp.get("ok") else (False, resp.get("error") or {})

    def ok(self, op: str, **args: Any) -> Any:
        """The result; a library error becomes a Failure."""
        good, res = self.call(op, **args)
        if not good:
            raise Failure(f"{self.impl.name} {op}: {res.get('kind')}: {res.get('message')}")
        return res

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
        self.log.close()


class Failure(Exception):
    """A scenario step did not go as it must."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


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
    r: redis.Redis
    crossredis: Path
    url: str
    entries: dict[str, bytes] = field(default_factory=dict)  # producer -> the queue entry it wrote

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    def locks_json(self) -> dict[str, Any]:
        out = subprocess.run([str(self.crossredis), "locks", "--url", self.url, "--prefix", self.prefix, "--json"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise Failure(f"crossredis locks: exit {out.returncode}: {out.stderr.strip()}")
        return json.loads(out.stdout)


def sc_lock(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t, t2 = f"lock-{tag}", f"lock-{tag}-b"
    la = a.ok("lock.acquire", scenario="lock", role="producer", thread=t, ttl_ms=30000)
    check(la is not None and la.get("token"), f"{a.impl.name} could not take a free lock")
    tok = la["token"]
    check(tok.startswith(a.impl.token_prefix + "_"), f"token {tok} lacks {a.impl.token_prefix}_")
    check(ctx.r.get(ctx.key("lock", t)) == tok.encode(), "the lock key does not hold the bare token")
    check(b.ok("lock.acquire", scenario="lock", role="consumer", thread=t, ttl_ms=30000) is None,
          f"{b.impl.name} took a lock {a.impl.name} holds")
    lb = b.ok("lock.acquire", scenario="lock", role="consumer", thread=t2, ttl_ms=30000)
    check(lb is not None, f"{b.impl.name} could not take a free lock")
    b.ok("lock.release", scenario="lock", role="consumer", thread=t, token=lb["token"])
    check(ctx.r.get(ctx.key("lock", t)) == tok.encode(), f"{b.impl.name} released {a.impl.name}'s lock")
    check(b.ok("lock.extend", scenario="lock", role="consumer", thread=t, token=lb["token"], ttl_ms=60000) is False,
          f"{b.impl.name} extended {a.impl.name}'s lock")
    check(ctx.r.pttl(ctx.key("lock", t)) <= 30000, "the lock's TTL changed")
    origins = {l["thread"]: l["origin"] for l in ctx.locks_json()["locks"]}
    check(origins.get(t) == a.impl.origin, f"origin of {a.impl.name}'s lock: {origins.get(t)}, not {a.impl.origin}")
    a.ok("lock.release", scenario="lock", role="producer", thread=t, token=tok)
    check(ctx.r.exists(ctx.key("lock", t)) == 0, f"{a.impl.name} could not release its lock")
    lb2 = b.ok("lock.acquire", scenario="lock", role="consumer", thread=t, ttl_ms=30000)
    check(lb2 is not None, f"{b.impl.name} could not take the lock {a.impl.name} released")
    b.ok("lock.release", thread=t, token=lb2["token"])
    b.ok("lock.release", thread=t2, token=lb["token"])
    return f"origin {a.impl.origin}"


def sc_cache(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"cache-{tag}"
    a.ok("cache.set", scenario="cache", role="producer", key=k, value=VALUE, ttl_ms=60000)
    raw = ctx.r.get(ctx.key("cache", k))
    want = expected_bytes(a.impl.json, VALUE)
    check(raw == want, f"{a.impl.name} wrote {raw!r}, {a.impl.json} JSON is {want!r}")
    got = b.ok("cache.get", scenario="cache", role="consumer", key=k)
    check(got == VALUE, f"{b.impl.name} read {got!r}")
    return f"{a.impl.json} JSON, {len(raw)} bytes as upstream"


def sc_dedupe(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"dedupe:{tag}"
    check(a.ok("cache.set_if_not_exists", scenario="dedupe", role="producer", key=k, value=True, ttl_ms=600000) is True,
          f"{a.impl.name}: first setIfNotExists not stored")
    check(b.ok("cache.set_if_not_exists", scenario="dedupe", role="consumer", key=k, value=True, ttl_ms=600000) is False,
          f"{b.impl.name}: second setIfNotExists stored")
    check(ctx.r.get(ctx.key("cache", k)) == b"true", "the dedupe value is not true")
    check(0 < ctx.r.pttl(ctx.key("cache", k)) <= 600000, "no TTL")
    return "second writer refused"


def sc_list(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    k = f"list-{tag}"
    items = [{"i": i, "t": MESSAGE_TEXT} for i in range(3)]
    for v in items:
        a.ok("list.append", scenario="list", role="producer", key=k, value=v, max_length=2, ttl_ms=60000)
    check(ctx.r.llen(ctx.key("list", k)) == 2, "not trimmed to 2")
    check(0 < ctx.r.pttl(ctx.key("list", k)) <= 60000, "no TTL")
    got = b.ok("list.get", scenario="list", role="consumer", key=k)
    check(got == items[1:], f"{b.impl.name} read {got!r}")
    return "newest 2 kept"


def sc_subscriptions(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t = f"sub-{tag}"
    a.ok("sub.subscribe", scenario="subscriptions", role="producer", thread=t)
    check(ctx.r.sismember(ctx.key("subscriptions", "").rstrip(":"), t), "not in the subscriptions set")
    check(b.ok("sub.is_subscribed", scenario="subscriptions", role="consumer", thread=t) is True,
          f"{b.impl.name} does not see the subscription")
    b.ok("sub.unsubscribe", scenario="subscriptions", role="consumer", thread=t)
    check(a.ok("sub.is_subscribed", scenario="subscriptions", role="producer", thread=t) is False,
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


# The queue scenario's clock and message are pinned, so every producer's entry can be compared byte
# for byte with the others of its runtime (the readers get `now` as their clock; the queue's TTL,
# max(expires_at - now, 60000), is then 60000 on the server, which changes no byte).
ENQUEUED_AT = 1700000000000
EXPIRES_AT = ENQUEUED_AT + 90000
QUEUE_MESSAGE = chat_message("m1", "slack:C123:1700000000.000100")


def sc_queue(ctx: Ctx, a: Driver, b: Driver, tag: str) -> str:
    t = f"queue-{tag}"
    msg = QUEUE_MESSAGE
    depth = a.ok("queue.enqueue", scenario="queue", role="producer", thread=t, message=msg, enqueued_at=ENQUEUED_AT,
                 expires_at=EXPIRES_AT, max_size=10)
    check(depth == 1, f"depth {depth}")
    stored = ctx.r.lindex(ctx.key("queue", t), 0)
    first = ctx.entries.setdefault(a.impl.name, stored)
    check(stored == first, f"{a.impl.name} wrote the same entry differently: {stored!r} vs {first!r}")
    raw = json.loads(stored)
    spelled = {"ts": ["message", "enqueuedAt", "expiresAt"],
               "python": ["enqueued_at", "expires_at", "message"],
               "both": ["message", "enqueuedAt", "expiresAt", "enqueued_at", "expires_at"]}[a.impl.entries]
    check(list(raw) == spelled, f"{a.impl.name} spelled the entry {list(raw)}")
    try:
        good, res = b.call("queue.read", scenario="queue", role="consumer", thread=t, now=ENQUEUED_AT + 1000)
        if not good:
            raise Failure(f"{b.impl.name} reader: {res.get('kind')}: {res.get('message')}")
        delivered = res.get("delivered") or []
        check(res.get("expired", 0) == 0 and len(delivered) == 1,
              f"{b.impl.name} delivered {len(delivered)}, dropped {res.get('expired')} as expired")
        got = delivered[0]
        check(isinstance(got, dict) and got.get("id") == msg["id"] and got.get("text") == MESSAGE_TEXT,
              f"{b.impl.name} delivered {json.dumps(got)[:120]}")
    finally:
        ctx.r.delete(ctx.key("queue", t))
    return f"{a.impl.entries} entry delivered"


SCENARIOS: list[tuple[str, Callable[[Ctx, Driver, Driver, str], str]]] = [
    ("lock", sc_lock), ("cache", sc_cache), ("dedupe", sc_dedupe), ("list", sc_list),
    ("subscriptions", sc_subscriptions), ("queue", sc_queue),
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
        lock = ts.ok("lock.acquire", scenario="migration", role="ts", thread=t, ttl_ms=30000)
        check(lock is not None, f"ts could not lock {t}")
        held[t] = lock["token"]
        for j in range(2):
            ts.ok("queue.enqueue", scenario="migration", role="ts", thread=t, message=chat_message(f"{t}-m{j}", t),
                  enqueued_at=now, expires_at=now + 90000, max_size=10)
            queued += 1
    for t in threads:
        check(py.ok("lock.acquire", scenario="migration", role="python", thread=t, ttl_ms=30000) is None,
              f"python took {t} while ts held it")
    drain = subprocess.Popen([str(ctx.crossredis), "drain", "--origin", "ts-ioredis", "--url", ctx.url, "--prefix",
                              ctx.prefix, "--timeout", "30", "--interval", "100", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    check(drain.poll() is None, "drain returned while ts locks were held")
    for t in threads:  # the TS deployment finishes its work and shuts down, thread by thread
        ts.ok("lock.release", scenario="migration", role="ts", thread=t, token=held[t])
        time.sleep(0.3)
    out, err = drain.communicate(timeout=60)
    check(drain.returncode == 0, f"drain exited {drain.returncode}: {err.strip()}")
    report = json.loads(out)
    check(report.get("drained") is True, f"drain report {report}")
    progress = [l for l in err.splitlines() if "left" in l]
    check(len(progress) >= 2, f"drain showed no progress: {err!r}")
    delivered = 0
    tokens = []
    for t in threads:
        lock = py.ok("lock.acquire", scenario="migration", role="python", thread=t, ttl_ms=30000)
        check(lock is not None, f"python could not take {t} after the drain")
        tokens.append(lock["token"])
        res = py.ok("queue.read", scenario="migration", role="python", thread=t, now=int(time.time() * 1000))
        got = res.get("delivered") or []
        check(res.get("expired", 0) == 0, f"{t}: {res.get('expired')} dropped as expired")
        check([m.get("id") for m in got] == [f"{t}-m0", f"{t}-m1"], f"{t}: delivered {[m.get('id') for m in got]}")
        delivered += len(got)
        py.ok("lock.release", scenario="migration", role="python", thread=t, token=lock["token"])
    check(all(tok.startswith("ioredis_") for tok in tokens), f"python tokens {tokens} are not ioredis-shaped")
    check(delivered == queued, f"{queued} queued, {delivered} delivered")
    return {"threads": len(threads), "queued": queued, "delivered": delivered, "drain_seconds": report.get("seconds"),
            "drain_progress_lines": len(progress), "python_tokens": tokens}


# ---- running -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("interop: redis-server did not start (is it installed? scripts/bootstrap installs it)")


@dataclass
class Cell:
    scenario: str
    producer: str
    consumer: str
    expected: str          # "pass" or "fail"
    status: str            # "ok", "known-incompatible", "FAIL", "UNEXPECTED-PASS"
    detail: str
    why_expected_fail: str | None = None

    @property
    def good(self) -> bool:
        return self.status in ("ok", "known-incompatible")


SYMBOL = {"ok": "ok", "known-incompatible": "x", "FAIL": "FAIL", "UNEXPECTED-PASS": "PASS?"}


def run_matrix(ctx: Ctx, drivers: dict[str, Driver]) -> list[Cell]:
    cells = []
    n = 0
    for scenario, fn in SCENARIOS:
        for a in drivers.values():
            for b in drivers.values():
                n += 1
                tag = f"{n}-{a.impl.name}-{b.impl.name}"
                known = queue_expected_to_fail(a.impl, b.impl) if scenario == "queue" else None
                try:
                    detail = fn(ctx, a, b, tag)
                    passed = True
                except Failure as e:
                    detail, passed = str(e).strip().splitlines()[0], False
                if known is None:
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


def print_tables(cells: list[Cell], names: list[str], out: Any) -> None:
    width = max(len(n) for n in names) + 5
    print("\nconsumers: " + ", ".join(f"{i + 1} {n}" for i, n in enumerate(names)), file=out)
    for scenario, _ in SCENARIOS:
        mine = {(c.producer, c.consumer): c for c in cells if c.scenario == scenario}
        print(f"\n{scenario}: producer (row) -> consumer (column)", file=out)
        print(" " * width + "".join(str(i + 1).rjust(6) for i in range(len(names))), file=out)
        for i, p in enumerate(names):
            print(f"{i + 1} {p}".ljust(width) + "".join(SYMBOL[mine[(p, c)].status].rjust(6) for c in names), file=out)
    known = [c for c in cells if c.status == "known-incompatible"]
    if known:
        print("\nx = known upstream incompatibility (SPEC.md 1.5), failing as upstream does:", file=out)
        for why in sorted({c.why_expected_fail for c in known if c.why_expected_fail}):
            pairs = [f"{c.producer}->{c.consumer}" for c in known if c.why_expected_fail == why]
            print(f"  {why}: {', '.join(pairs)}", file=out)
    bad = [c for c in cells if not c.good]
    for c in bad:
        print(f"\n{c.status} {c.scenario} {c.producer} -> {c.consumer}: {c.detail}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="crossredis interop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="the shared Redis (default: a throwaway local redis-server)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    ap.add_argument("--only", help="a comma-separated subset of implementations")
    ap.add_argument("--crossredis", default=str(ROOT / "build" / "cli" / "crossredis"), help="the crossredis command")
    ap.add_argument("--no-migration", action="store_true", help="skip the migration scenario")
    args = ap.parse_args(argv)
    names = [i.name for i in IMPLS]
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            ap.error(f"unknown implementation {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    crossredis = Path(args.crossredis)
    if not os.access(crossredis, os.X_OK):
        ap.error(f"{crossredis} is not an executable crossredis command (build it, or pass --crossredis)")
    python = os.environ.get("XR_PYTHON") or sys.executable

    server = None
    url = args.url
    if not url:
        server, url = start_server()
    out = sys.stderr if args.json else sys.stdout
    logs = Path(tempfile.mkdtemp(prefix="crossredis-interop-"))
    prefix = f"interop-{os.getpid()}-{int(time.time())}"
    drivers: dict[str, Driver] = {}
    t0 = time.monotonic()
    try:
        r = redis.Redis.from_url(url)
        r.ping()
        for n in names:
            impl = BY_NAME[n]
            drivers[n] = Driver(impl, driver_command(impl, crossredis, python), url, prefix, logs / f"{n}.log")
        ctx = Ctx(prefix, r, crossredis, url)
        print(f"interop: {len(drivers)} implementations on {url} (keys under {prefix}:)", file=out)
        for d in drivers.values():
            print(f"  {d.impl.name:20} {d.impl.runtime:11} {d.library}", file=out)
        cells = run_matrix(ctx, drivers)
        print_tables(cells, names, out)
        entry_groups = compare_entries(ctx, names)
        if entry_groups:
            print("\nqueue entries written for one message with pinned times, compared byte for byte:", file=out)
        for g in entry_groups:
            verdict = "identical" if g["identical"] else f"DIFFERENT ({', '.join(g['differing'])})"
            print(f"  {g['json']} JSON, {g['entries']} spelling: {', '.join(g['producers'])}: {verdict}, "
                  f"{g['bytes']} bytes", file=out)
        mig: dict[str, Any] = {"skipped": True}
        mig_ok = True
        if not args.no_migration and "ts-ioredis" in drivers and "py-crossredis-both" in drivers:
            try:
                mig = {"ok": True, **migration(ctx, drivers["ts-ioredis"], drivers["py-crossredis-both"])}
            except Failure as e:
                mig, mig_ok = {"ok": False, "error": str(e)}, False
            print(f"\nmigration (ts-ioredis -> py-crossredis-both, crossredis drain --origin ts-ioredis): "
                  f"{'ok' if mig_ok else 'FAIL'}: " +
                  (f"{mig['queued']} queued, {mig['delivered']} delivered, drained in {mig['drain_seconds']} s"
                   if mig_ok else mig["error"]), file=out)
        bad = [c for c in cells if not c.good]
        counts = {s: sum(1 for c in cells if c.status == s) for s in SYMBOL}
        ok = not bad and mig_ok and all(g["identical"] for g in entry_groups)
        print(f"\n{len(cells)} pairs: {counts['ok']} ok, {counts['known-incompatible']} known upstream incompatibilities, "
              f"{counts['FAIL']} failed, {counts['UNEXPECTED-PASS']} unexpected passes; "
              f"{time.monotonic() - t0:.1f} s; driver logs in {logs}", file=out)
        if args.json:
            json.dump({"url": url, "prefix": prefix, "ok": ok,
                       "implementations": {d.impl.name: {"runtime": d.impl.runtime, "library": d.library}
                                           for d in drivers.values()},
                       "results": [c.__dict__ for c in cells], "entries": entry_groups, "migration": mig,
                       "counts": counts},
                      sys.stdout, indent=2)
            print()
        return 0 if ok else 1
    except DriverError as e:
        print(f"interop: {e} (logs in {logs})", file=sys.stderr)
        return 1
    finally:
        for d in drivers.values():
            d.close()
        if server is not None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
