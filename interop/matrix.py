"""What every system's interop matrix shares (interop/run.py runs them): the driver processes and
their JSON lines protocol (interop/CONTRACT.md), a scenario's checks and failures, the cells of a
matrix and its tables, and the run's secrets (the URL's password, kept out of all output)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from crossredis.client import redact_url as core_redact_url

CALL_TIMEOUT_S = 20.0


def plural(n: int, one: str, many: str | None = None) -> str:
    """n with its noun: 1 pair, 2 pairs."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ---- secrets -----------------------------------------------------------------------------------

def redact_url(url: str) -> str:
    """redis://user:***@host:port/..., redis://:***@host for a password without a user: the
    core's redaction (xr_url_redact), through the Python package the drivers use too."""
    return core_redact_url(url) or url


def password_span(url: str) -> tuple[int, int] | None:
    """Where the password of `url` is: what the redaction replaced (between the longest common
    prefix and suffix of the URL and its redacted text). None when there is no password."""
    shown = redact_url(url)
    if shown == url:
        return None
    p = 0
    while p < min(len(url), len(shown)) and url[p] == shown[p]:
        p += 1
    e = 0
    while e < min(len(url), len(shown)) - p and url[-1 - e] == shown[-1 - e]:
        e += 1
    return (p, len(url) - e) if len(url) - e > p else None


class Secrets:
    """The passwords of this run's URL (as written and percent-decoded), kept out of everything
    the runner prints."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.url = ""

    def add_url(self, url: str) -> None:
        self.url = url
        span = password_span(url)
        if span is not None:
            raw = url[span[0]:span[1]]
            self.words += [w for w in {raw, urllib.parse.unquote(raw)} if w]

    def scrub(self, text: Any) -> str:
        text = str(text)
        if self.url:
            text = text.replace(self.url, redact_url(self.url))
        for w in self.words:
            text = text.replace(w, "***")
        return text


SECRETS = Secrets()


class DriverError(Exception):
    pass


class Driver:
    """One driver process speaking JSON lines (interop/CONTRACT.md). `impl` is the implementation
    (its `name` is the driver's --impl); `cmd` the driver's command with any options of its system."""

    def __init__(self, impl: Any, cmd: list[str], env: dict[str, str], prefix: str, log: Path) -> None:
        self.impl = impl
        self.log_path = log
        self.log = open(log, "ab")
        # The server's URL (password included) is in env["REDIS_URL"], never on the command line.
        try:
            self.proc = subprocess.Popen(cmd + ["--impl", impl.name, "--prefix", prefix], env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        except OSError as e:
            self.log.close()
            raise DriverError(f"{impl.name}: cannot start {cmd[0]}: {e}") from None
        self.next_id = 0
        self.buf = b""
        try:  # a driver that does not come up is stopped here: the caller never holds it
            ready = self._line(60.0)
            if not ready.get("ready"):
                raise DriverError(f"{impl.name}: not ready: {ready.get('error', ready)}")
        except BaseException:
            self.close()
            raise
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
                    try:
                        code: int | None = self.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    raise DriverError(f"{self.impl.name}: the driver exited ({code}); the end of its log follows")
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
        # UTF-8 as it is (not \\u escapes): a Go driver keeps a raw JSON value's text (json.RawMessage), as
        # toolhive keeps a session's data, so the escapes would reach its bytes.
        self.proc.stdin.write(json.dumps(req, ensure_ascii=False).encode() + b"\n")
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
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


class Failure(Exception):
    """A scenario step did not go as it must."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)



class Written:
    """What a matrix's writers wrote for the same thing (a record, an entry, an event): every writer
    must write the same bytes each time, and all writers the reference writer's bytes."""

    def __init__(self) -> None:
        self.by: dict[str, dict[str, bytes]] = {}  # what -> writer -> bytes

    def record(self, what: str, writer: str, raw: bytes) -> None:
        first = self.by.setdefault(what, {}).setdefault(writer, raw)
        check(raw == first, f"{writer} wrote {what} differently: {raw[:200]!r} vs {first[:200]!r}")

    def compare(self, reference: Callable[[list[str]], str]) -> list[dict[str, Any]]:
        """One group per thing written: its writers, whether all wrote reference(writers)'s bytes."""
        out = []
        for what, by in self.by.items():
            writers = list(by)
            ref = by[reference(writers)]
            differing = [w for w in writers if by[w] != ref]
            out.append({"what": what, "writers": writers, "identical": not differing, "bytes": len(ref),
                        "differing": differing})
        return out


def pairs(table: list[tuple[str, Any]], chosen: list[str], names: list[str]) -> Iterator[tuple[str, str, Any, str, str]]:
    """(tag, scenario, its function, producer, consumer) for every pair of `names` (each with
    itself too) in each scenario of `table` that is `chosen`, in the table's order; the tag is
    unique in the run, for the keys of the pair."""
    n = 0
    for scenario, fn in table:
        if scenario not in chosen:
            continue
        for pa in names:
            for pb in names:
                n += 1
                yield f"{n}-{pa}-{pb}", scenario, fn, pa, pb


def attempt(fn: Callable[..., str], *args: Any) -> tuple[str, bool]:
    """A scenario run: (what it says, True), or (the first line of its Failure, scrubbed, False)."""
    try:
        return fn(*args), True
    except Failure as e:
        return SECRETS.scrub(str(e).strip().splitlines()[0]), False


@dataclass(kw_only=True)
class RunCtx:
    """What a system's matrix run keeps: the keys it made (the runner checks their spread and
    deletes them) and what each writer wrote (Written)."""

    written: Written = field(default_factory=Written)
    keys: set[str] = field(default_factory=set)

    def under(self, prefix: str, k: str) -> str:
        """The key `k` under `prefix`, kept as one of the run's."""
        self.keys.add(prefix + k)
        return prefix + k

    def record(self, what: str, writer: str, raw: bytes) -> None:
        self.written.record(what, writer, raw)


def print_impls(title: str, names: list[str], drivers: dict[str, Driver], out: Any) -> None:
    """A matrix's heading: its implementations, their runtimes and libraries."""
    print(f"\n{title}: {plural(len(names), 'implementation')}", file=out)
    for n in names:
        d = drivers[n]
        print(f"  {d.impl.name:20} {d.impl.runtime:11} {d.library}", file=out)


def print_groups(title: str, groups: list[dict[str, Any]], out: Any) -> None:
    """Written.compare's groups under `title` (printed when there is any)."""
    if groups:
        print(f"\n{title}:", file=out)
    for g in groups:
        verdict = "identical" if g["identical"] else f"DIFFERENT ({', '.join(g['differing'])})"
        print(f"  {g['what']}: {', '.join(g['writers'])}: {verdict}, {g['bytes']} bytes", file=out)


@dataclass
class Cell:
    scenario: str
    producer: str
    consumer: str
    expected: str          # "pass" or "fail"
    status: str            # "ok", "known-incompatible", "known-limit", "FAIL", "UNEXPECTED-PASS"
    detail: str
    why_expected_fail: str | None = None

    @property
    def good(self) -> bool:
        return self.status in ("ok", "known-incompatible", "known-limit")


SYMBOL = {"ok": "ok", "known-incompatible": "x", "known-limit": "lim", "FAIL": "FAIL", "UNEXPECTED-PASS": "PASS?"}


def print_tables(cells: list[Cell], names: list[str], scenarios: list[str], out: Any, title: str = "") -> None:
    """One table per scenario (producer rows, consumer columns) in the order of `scenarios`, what
    the known incompatibilities and limits are, and every bad cell."""
    width = max(len(n) for n in names) + 5
    print(f"\n{title}consumers: " + ", ".join(f"{i + 1} {n}" for i, n in enumerate(names)), file=out)
    for scenario in scenarios:
        mine = {(c.producer, c.consumer): c for c in cells if c.scenario == scenario}
        if not mine:
            continue
        print(f"\n{scenario}: producer (row) -> consumer (column)", file=out)
        print(" " * width + "".join(str(i + 1).rjust(6) for i in range(len(names))), file=out)
        for i, p in enumerate(names):
            print(f"{i + 1} {p}".ljust(width) + "".join(SYMBOL[mine[(p, c)].status].rjust(6) for c in names), file=out)
    known = [c for c in cells if c.status == "known-incompatible"]
    if known:
        print("\nx = known upstream incompatibility (SPEC.md), failing as upstream does:", file=out)
        for why in sorted({c.why_expected_fail for c in known if c.why_expected_fail}):
            pairs = [f"{c.producer}->{c.consumer}" for c in known if c.why_expected_fail == why]
            print(f"  {why}: {', '.join(pairs)}", file=out)
    limits = [c for c in cells if c.status == "known-limit"]
    if limits:
        print("\nlim = known limit: the upstream cannot do this here (it was started or asked and failed as "
              "described; not a skip):", file=out)
        for why in sorted({c.why_expected_fail for c in limits if c.why_expected_fail}):
            mine = [c for c in limits if c.why_expected_fail == why]
            print(f"  {why}; its driver said: {mine[0].detail}; "
                  f"{plural(len(mine), 'pair')} in {plural(len({c.scenario for c in mine}), 'scenario')}", file=out)
    bad = [c for c in cells if not c.good]
    for c in bad:
        print(f"\n{c.status} {c.scenario} {c.producer} -> {c.consumer}: {c.detail}", file=out)
